"""Model files: round trips through every format, files written by real TF.js and Keras 3
(committed fixtures), quantized weights, optimizer state, safety and atomic saves."""
import functools
import http.server
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest

import engine
from engine import io as model_io
from engine.io import config_normalize, tfjs
from tests import io_models
from tests.helpers import random_array

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
PATHS = {"tfjs": "web_model", "keras": "model.keras", "h5": "model.h5", "engine": "m.engine"}


def predict(model, x):
    return np.asarray(model.predict(x, verbose=0))


# ---------------------------------------------------------------------------- round trips


# The models with a layer TF.js lacks: saving them for TF.js is refused, naming it.
TFJS_REFUSALS = {"embedding": "TF.js has no GRU with reset_after=True",
                 "keras_only": "Layer 'pad1d': TF.js has no ZeroPadding1D layer"}


@pytest.mark.parametrize("save_format", sorted(PATHS))
@pytest.mark.parametrize("name", sorted(io_models.BUILDERS))
def test_every_model_round_trips_through_every_format(tmp_path, name, save_format):
    model, x = io_models.build(name)
    if name in TFJS_REFUSALS and save_format == "tfjs":
        with pytest.raises(ValueError, match=TFJS_REFUSALS[name]):
            model.save(str(tmp_path / PATHS[save_format]))
        assert not (tmp_path / PATHS[save_format]).exists()
        return
    model.save(str(tmp_path / PATHS[save_format]))
    loaded = engine.models.load_model(str(tmp_path / PATHS[save_format]))
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in model.layers]
    for want, got in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))


def test_keras_folder_form_and_model_json_path(tmp_path):
    model, x = io_models.build("residual")
    model.save(str(tmp_path / "unzipped"), save_format="keras")
    assert sorted(os.listdir(tmp_path / "unzipped")) == ["config.json", "metadata.json",
                                                         "model.weights.h5"]
    model.save(str(tmp_path / "web" / "model.json"))
    for path in (tmp_path / "unzipped", tmp_path / "web" / "model.json", tmp_path / "web"):
        np.testing.assert_array_equal(predict(engine.models.load_model(str(path)), x),
                                      predict(model, x))


def test_format_is_chosen_from_the_path(tmp_path):
    detect = model_io.detect_format
    assert detect("web_model/") == "tfjs" and detect("a/model.json") == "tfjs"
    assert detect("https://example.com/m/model.json") == "tfjs"
    assert detect("d.keras") == "keras" and detect("d.h5") == "h5" and detect("x.engine") == \
        "engine"
    assert detect("d.h5", save_format="tfjs") == "tfjs"
    with pytest.raises(ValueError, match="Cannot tell the format"):
        detect("model.pkl")
    with pytest.raises(ValueError, match="Unknown save_format"):
        detect("x", save_format="pickle")


def test_weights_only_files(tmp_path):
    model, x = io_models.build("cnn")
    model.save_weights(str(tmp_path / "w.weights.h5"))
    other, _ = io_models.build("cnn", seed=5)
    other.load_weights(str(tmp_path / "w.weights.h5"))
    np.testing.assert_array_equal(predict(other, x), predict(model, x))
    with pytest.raises(ValueError, match="weights.h5"):
        model.save_weights(str(tmp_path / "w.h5"))


# ---------------------------------------------------------------------------- frameworks' files


def _expected(folder):
    return json.loads((FIXTURES / folder / "expected.json").read_text()).items()


@pytest.mark.parametrize("name,case", _expected("tfjs"), ids=[n for n, _ in _expected("tfjs")])
def test_models_saved_by_tfjs_predict_as_in_tfjs(name, case):
    """Includes uint8/uint16/float16-quantized weights (dequantized by TF.js for `output`),
    shards of 400 bytes that split weights, hard_sigmoid = clip(0.2x + 0.5), GRU with
    reset_after=False, and nested models (called as node 1: TF.js counts their own node 0)."""
    model = engine.models.load_model(str(FIXTURES / "tfjs" / name / "model.json"))
    x = np.array(case["input"], np.float32).reshape(case["input_shape"])
    np.testing.assert_allclose(predict(model, x).ravel(), case["output"], atol=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name,case", _expected("keras"), ids=[n for n, _ in _expected("keras")])
def test_models_saved_by_keras_predict_as_in_keras(name, case, suffix):
    """Keras 3 meanings: hard_sigmoid = relu6(x + 3) / 6, GRU reset_after=True, RNN weights
    under cell/vars, DepthwiseConv2D's 'kernel'."""
    model = engine.models.load_model(str(FIXTURES / "keras" / f"{name}{suffix}"))
    x = np.array(case["input"], np.float32).reshape(case["input_shape"])
    np.testing.assert_allclose(predict(model, x).ravel(), case["output"], atol=1e-5)
    assert type(model.optimizer).__name__ == "Adam"


def test_hard_sigmoid_keeps_the_meaning_of_the_file_that_wrote_it():
    tfjs_model = engine.models.load_model(str(FIXTURES / "tfjs" / "mlp"))
    keras_model = engine.models.load_model(str(FIXTURES / "keras" / "mlp.keras"))
    assert tfjs_model.get_layer("gate").get_config()["activation"] == "legacy_hard_sigmoid"
    assert keras_model.get_layer("gate").get_config()["activation"] == "hard_sigmoid"
    x = np.linspace(-4, 4, 9, dtype=np.float32)
    np.testing.assert_allclose(engine.activations.legacy_hard_sigmoid(engine.tensor(x)).numpy(),
                               np.clip(0.2 * x + 0.5, 0, 1), atol=1e-7)
    with pytest.raises(ValueError, match="cannot express"):
        keras_model.save("never_written_web_model")
    with pytest.raises(ValueError, match="cannot express"):
        tfjs_model.save("never_written.keras")
    assert not os.path.exists("never_written_web_model")


def test_quantized_weights_are_dequantized_with_the_converter_formulas():
    values = np.array([-0.3, 0.0, 0.25, 0.7], np.float32)
    scale, low = 1.0 / 255, -0.3
    q = np.round((values - low) / scale).astype(np.uint8)
    half = values.astype(np.float16)
    specs = [{"name": "a", "shape": [4], "dtype": "float32",
              "quantization": {"dtype": "uint8", "min": low, "scale": scale}},
             {"name": "b", "shape": [2, 2], "dtype": "float32",
              "quantization": {"dtype": "float16"}},
             {"name": "c", "shape": [2], "dtype": "int32",
              "quantization": {"dtype": "uint16", "min": -2.0, "scale": 0.5}},
             {"name": "d", "shape": [3], "dtype": "bool"}]
    data = (q.tobytes() + half.astype("<f2").tobytes() + np.array([1, 9], "<u2").tobytes()
            + bytes([1, 0, 1]))
    decoded = tfjs.decode_weights(specs, data, "test")
    np.testing.assert_allclose(decoded["a"], q * np.float32(scale) + np.float32(low), rtol=0,
                               atol=1e-7)
    np.testing.assert_array_equal(decoded["b"], half.astype(np.float32).reshape(2, 2))
    np.testing.assert_array_equal(decoded["c"], [-2, 2])
    assert decoded["c"].dtype == np.int32
    np.testing.assert_array_equal(decoded["d"], [True, False, True])


def test_tfjs_writer_cuts_little_endian_shards_of_at_most_4_mib(tmp_path):
    layers = engine.layers
    layers.clear_session()
    model = engine.Sequential([layers.Input((1100,)), layers.Dense(1000, name="big")])
    model.save(str(tmp_path / "web"))
    document = json.loads((tmp_path / "web" / "model.json").read_text())
    assert document["format"] == "layers-model" and document["convertedBy"] is None
    assert document["generatedBy"] == f"engine {engine.__version__}"
    group = document["weightsManifest"][0]
    assert group["paths"] == ["group1-shard1of2.bin", "group1-shard2of2.bin"]
    assert [w["name"] for w in group["weights"]] == ["big/kernel", "big/bias"]
    sizes = [os.path.getsize(tmp_path / "web" / p) for p in group["paths"]]
    assert sizes == [4 * 1024 * 1024, (1100 * 1000 + 1000) * 4 - 4 * 1024 * 1024]
    data = b"".join((tmp_path / "web" / p).read_bytes() for p in group["paths"])
    np.testing.assert_array_equal(np.frombuffer(data, "<f4", 1100 * 1000).reshape(1100, 1000),
                                  model.get_weights()[0])
    layer = document["modelTopology"]["config"]["layers"][0]
    assert layer["class_name"] == "InputLayer" and "batch_input_shape" in layer["config"]


# ---------------------------------------------------------------------------- configs


def test_keras2_and_keras3_configs_normalise_to_the_same_thing():
    keras3 = json.loads(zipfile.ZipFile(FIXTURES / "keras" / "residual.keras").read(
        "config.json"))
    keras2 = config_normalize.to_keras2(config_normalize.normalize(keras3))
    assert keras2["class_name"] == "Model"
    assert keras2["config"]["layers"][1]["inbound_nodes"] == [[["image", 0, 0, {}]]]
    assert keras2["config"]["input_layers"] == [["image", 0, 0]]
    assert keras2["config"]["layers"][0]["config"]["batch_input_shape"] == [None, 8, 8, 3]
    assert config_normalize.normalize(keras2, "keras3") == config_normalize.normalize(keras3)
    conv = config_normalize.normalize(keras3)["config"]["layers"][1]
    assert conv["config"]["dtype"] == "float32" and "module" not in conv


def test_a_config_naming_a_missing_layer_is_refused_alike_by_file_and_get_config_readers():
    """model_from_config (files) and Model.from_config (get_config) share one rebuild."""
    model, _ = io_models.build("residual")
    canonical = model_io.serialize.model_config(model)
    del canonical["config"]["layers"][1]  # "stem", which "dw" and "residual" read
    config = model.get_config()
    del config["layers"][1]
    for rebuild in (lambda: model_io.serialize.model_from_config(canonical),
                    lambda: engine.Model.from_config(config)):
        with pytest.raises(ValueError, match=r"'dw': \[\('stem', 0, 0\)\]"):
            rebuild()


# ---------------------------------------------------------------------------- optimizer state


@pytest.mark.parametrize("path", ["m.engine", "m.keras", "m.h5", "web_model"])
def test_training_resumes_exactly_after_save_and_load(tmp_path, path):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(16, 8)).astype("float32"), rng.normal(size=(16, 4)).astype("float32")

    def fresh():
        model, _ = io_models.build("mlp")
        model.compile(optimizer=engine.optimizers.Adam(0.01), loss="mse")
        return model

    def train(model, steps):
        for _ in range(steps):
            model.train_on_batch(x, y)

    straight = fresh()
    train(straight, 5)
    resumed = fresh()
    train(resumed, 3)
    resumed.save(str(tmp_path / path))
    resumed = engine.models.load_model(str(tmp_path / path))
    assert int(resumed.optimizer.iterations.numpy()) == 3
    train(resumed, 2)
    for want, got in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_compile_false_skips_the_optimizer(tmp_path):
    model, _ = io_models.build("mlp")
    model.compile(optimizer="adam", loss="mse")
    model.save(str(tmp_path / "m.keras"))
    assert engine.models.load_model(str(tmp_path / "m.keras"), compile=False).optimizer is None


# ---------------------------------------------------------------------------- TF.js optimizer state

_OPTIMIZERS = {
    "adam": lambda: engine.optimizers.Adam(0.01),
    "sgd": lambda: engine.optimizers.SGD(0.1),
    "nesterov": lambda: engine.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda: engine.optimizers.RMSprop(0.01),
    "rmsprop_centered": lambda: engine.optimizers.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: engine.optimizers.Adagrad(0.1),
    "adadelta": lambda: engine.optimizers.Adadelta(1.0),
}


def _trained_mlp(optimizer, steps=2):
    model, x = io_models.build("mlp")
    model.compile(optimizer=optimizer, loss="mse", metrics=["accuracy"])
    for _ in range(steps):
        model.train_on_batch(x, np.asarray(model.predict(x, verbose=0)) + 1)
    return model


@pytest.mark.parametrize("name", sorted(_OPTIMIZERS))
def test_tfjs_files_restore_iterations_slots_and_compile_settings(tmp_path, name):
    """SGD's momentum is stored as TF.js's -m / lr (float32 rounding); the rest bit for bit."""
    model = _trained_mlp(_OPTIMIZERS[name]())
    model.save(str(tmp_path / "web"))
    loaded = engine.models.load_model(str(tmp_path / "web"))
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert int(loaded.optimizer.iterations.numpy()) == 2
    assert [type(loss).__name__ for loss in loaded._losses] == ["MeanSquaredError"]
    assert [metric.name for metric in loaded._metrics[0]] == ["accuracy"]
    saved, restored = model.optimizer.variables(), loaded.optimizer.variables()
    assert len(saved) == len(restored)
    for want, got in zip(saved, restored):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6 if name == "nesterov"
                                   else 0, atol=0, err_msg=want.name)


def test_tfjs_optimizer_layout_is_tfjs_s(tmp_path):
    """What LayersModel.save(..., {includeOptimizer: true}) writes: trainingConfig, then "iter"
    and every weight's /m before every /v, in the manifest with group "optimizer"."""
    _trained_mlp(engine.optimizers.Adam(0.01)).save(str(tmp_path / "web"))
    document = json.loads((tmp_path / "web" / "model.json").read_text())
    assert document["trainingConfig"] == {
        "loss": "mean_squared_error", "metrics": ["accuracy"],
        "optimizer_config": {"class_name": "Adam", "config": {
            "learningRate": pytest.approx(0.01), "beta1": 0.9, "beta2": 0.999,
            "epsilon": 1e-7}}}
    specs = document["weightsManifest"][0]["weights"]
    names = [f"{layer}/{weight}" for layer in ("hidden", "gate", "probs")
             for weight in ("kernel", "bias")]
    assert [spec["name"] for spec in specs] == names + ["iter"] + [
        f"{name}/{slot}" for slot in ("m", "v") for name in names]
    assert [spec.get("group") for spec in specs] == [None] * 6 + ["optimizer"] * 13
    assert specs[6] == {"name": "iter", "shape": [], "dtype": "int32", "group": "optimizer"}


def test_tfjs_save_without_the_optimizer(tmp_path):
    model = _trained_mlp(engine.optimizers.Adam(0.01))
    model.save(str(tmp_path / "web"), include_optimizer=False)
    document = json.loads((tmp_path / "web" / "model.json").read_text())
    assert "trainingConfig" not in document
    assert all("group" not in spec for spec in document["weightsManifest"][0]["weights"])
    assert engine.models.load_model(str(tmp_path / "web")).optimizer is None
    model.save(str(tmp_path / "with"))
    assert engine.models.load_model(str(tmp_path / "with"), compile=False).optimizer is None


@pytest.mark.parametrize("optimizer,loss,problem", [
    (engine.optimizers.AdamW(0.01), "mse", "AdamW.s state"),
    (engine.optimizers.Adam(0.01, clipnorm=1.0), "mse", "clipnorm=1.0"),
    (engine.optimizers.Adam(0.01, amsgrad=True), "mse", "amsgrad=True"),
    (engine.optimizers.Adamax(0.01), "mse", "Adamax.s state"),
    (engine.optimizers.SGD(engine.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)), "mse",
     "schedule"),
    (engine.optimizers.Adam(0.01), "huber", "loss"),
    (engine.optimizers.Adam(0.01), engine.losses.CategoricalCrossentropy(from_logits=True),
     "loss"),
], ids=["adamw", "clipnorm", "amsgrad", "adamax", "schedule", "huber", "from_logits"])
def test_tfjs_save_refuses_what_tfjs_cannot_hold(tmp_path, optimizer, loss, problem):
    model, _ = io_models.build("mlp")
    model.compile(optimizer=optimizer, loss=loss)
    with pytest.raises(ValueError, match=f"(?s){problem}.*include_optimizer=False"):
        model.save(str(tmp_path / "web"))
    assert not (tmp_path / "web").exists()
    model.save(str(tmp_path / "web"), include_optimizer=False)


def _twin_blocks():
    """Two nested Sequentials whose layers share the name 'head', summed."""
    layers = engine.layers
    layers.clear_session()
    values = layers.Input((3,), name="values")
    branches = [engine.Sequential([layers.Input((3,)), layers.Dense(2, name="head")], name=side)
                for side in ("left", "right")]
    model = engine.Model(values, layers.Add()([branch(values) for branch in branches]))
    for seed, variable in enumerate(model.weights):
        variable.assign(random_array(variable.shape, seed=seed))
    return model


def test_tfjs_save_refuses_nested_layers_sharing_a_weight_name(tmp_path):
    """TF.js names a nested model's weights without the model's name and matches by name."""
    with pytest.raises(ValueError, match="Two weights are named 'head/kernel'"):
        _twin_blocks().save(str(tmp_path / "web"))
    assert not (tmp_path / "web").exists()


@pytest.mark.parametrize("save_format", ["engine", "keras", "h5"])
def test_nested_layers_sharing_a_name_keep_their_own_weights(tmp_path, save_format):
    """.engine, .keras and .h5 name weights through their nested model: each 'head' gets its own
    kernel back (the .engine file once gave both the same one)."""
    model, x = _twin_blocks(), random_array((4, 3), seed=9)
    model.save(str(tmp_path / PATHS[save_format]))
    loaded = engine.models.load_model(str(tmp_path / PATHS[save_format]))
    for want, got in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(predict(loaded, x), predict(model, x))


def _rewrite_tfjs(folder, change_state=None, change_document=None):
    """Rewrite a saved TF.js model with its optimizer weights or model.json changed."""
    document, arrays, state = tfjs.read(str(folder))
    state = change_state(state) if change_state else state
    specs, data = tfjs.encode_weights(list(arrays.items()))
    optimizer_specs, optimizer_data = tfjs.encode_weights(state)
    document["weightsManifest"] = [{"paths": ["group1-shard1of1.bin"], "weights": specs + [
        {**spec, "group": "optimizer"} for spec in optimizer_specs]}]
    if change_document:
        change_document(document)
    (folder / "group1-shard1of1.bin").write_bytes(data + optimizer_data)
    (folder / "model.json").write_text(json.dumps(document))


def _swap_m_and_v(state):
    half = (len(state) - 1) // 2
    return state[:1] + state[1 + half:] + state[1:1 + half]


@pytest.mark.parametrize("change_state,change_document,problem", [
    (lambda state: state[:-1], None, "11 optimizer slot weights for 6 trainable weights; "
                                     "TF.js's Adam keeps 12"),
    (lambda state: state[1:], None, "must start with the scalar 'iter'"),
    (_swap_m_and_v, None, "'m' slot of 'hidden/kernel'"),
    (lambda state: state[:1] + [(state[1][0], state[1][1][:3])] + state[2:], None,
     "has shape \\(3, 16\\) in the file"),
    (None, lambda d: d["trainingConfig"]["optimizer_config"].update(class_name="Nadam"),
     "unknown TF.js optimizer 'Nadam'"),
    (None, lambda d: d["trainingConfig"].pop("optimizer_config"), "no 'optimizer_config'"),
    (None, lambda d: d["trainingConfig"].update(loss="no_such_loss"), "no_such_loss"),
], ids=["slot_missing", "iter_missing", "m_v_swapped", "wrong_shape", "unknown_optimizer",
        "no_optimizer_config", "unknown_loss"])
def test_malformed_tfjs_optimizer_state_names_the_file(tmp_path, change_state, change_document,
                                                       problem):
    _trained_mlp(engine.optimizers.Adam(0.01)).save(str(tmp_path / "web"))
    _rewrite_tfjs(tmp_path / "web", change_state, change_document)
    with pytest.raises(model_io.ModelFileError, match=f"web.*{problem}"):
        engine.models.load_model(str(tmp_path / "web"))
    assert engine.models.load_model(str(tmp_path / "web"), compile=False).optimizer is None


# ---------------------------------------------------------------------------- converter


def test_convert_cli_keras3_to_tfjs_and_back(tmp_path, capsys):
    from engine.convert import main

    assert main([str(FIXTURES / "keras" / "residual.keras"), str(tmp_path / "web")]) == 0
    assert main([str(tmp_path / "web"), str(tmp_path / "again.h5")]) == 0
    assert main([str(tmp_path / "again.h5"), str(tmp_path / "m.bin"), "--format", "engine"]) == 0
    case = dict(_expected("keras"))["residual"]
    x = np.array(case["input"], np.float32).reshape(case["input_shape"])
    for path in ("web", "again.h5"):
        np.testing.assert_allclose(predict(engine.models.load_model(str(tmp_path / path)),
                                           x).ravel(), case["output"], atol=1e-5)
    assert main([str(tmp_path / "missing.keras"), str(tmp_path / "x.h5")]) == 1
    assert "No model file" in capsys.readouterr().err


# ---------------------------------------------------------------------------- URL loading


def test_load_model_json_over_http(tmp_path):
    shutil.copytree(FIXTURES / "tfjs" / "cnn_uint8", tmp_path / "served")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/served/model.json"
        model = engine.models.load_model(url)
        with pytest.raises(model_io.ModelFileError, match="cannot fetch"):
            engine.models.load_model(url.replace("served", "absent"))
    finally:
        server.shutdown()
        server.server_close()
    case = dict(_expected("tfjs"))["cnn_uint8"]
    x = np.array(case["input"], np.float32).reshape(case["input_shape"])
    np.testing.assert_allclose(predict(model, x).ravel(), case["output"], atol=1e-5)


# ---------------------------------------------------------------------------- bad files


@pytest.fixture
def web_model(tmp_path):
    shutil.copytree(FIXTURES / "tfjs" / "mlp", tmp_path / "web")
    return tmp_path / "web"


def _edit_manifest(folder, edit):
    document = json.loads((folder / "model.json").read_text())
    edit(document)
    (folder / "model.json").write_text(json.dumps(document))


def test_truncated_shard_is_reported_with_the_file(web_model):
    shard = web_model / "group1-shard3of3.bin"
    shard.write_bytes(shard.read_bytes()[:-7])
    with pytest.raises(model_io.ModelFileError, match=r"web.*1089 bytes.*1096.*truncated"):
        engine.models.load_model(str(web_model))


def test_wrong_byte_length_in_the_manifest(web_model):
    _edit_manifest(web_model, lambda d: d["weightsManifest"][0]["weights"][0].update(
        shape=[8, 17]))
    with pytest.raises(model_io.ModelFileError, match="describes 1128 bytes"):
        engine.models.load_model(str(web_model))


@pytest.mark.parametrize("bad_path", ["../outside.bin", "/etc/passwd", "a/../../x.bin",
                                      "C:\\x.bin", "http://example.com/x.bin"])
def test_manifest_paths_cannot_leave_the_model_folder(web_model, bad_path):
    (web_model.parent / "outside.bin").write_bytes(b"\0" * 2000)
    _edit_manifest(web_model, lambda d: d["weightsManifest"][0]["paths"].__setitem__(0,
                                                                                     bad_path))
    with pytest.raises(model_io.ModelFileError, match="outside|invalid weight path"):
        engine.models.load_model(str(web_model))


def test_symlinked_shard_outside_the_folder_is_refused(web_model):
    (web_model.parent / "outside.bin").write_bytes((web_model / "group1-shard1of3.bin")
                                                   .read_bytes())
    os.remove(web_model / "group1-shard1of3.bin")
    os.symlink(web_model.parent / "outside.bin", web_model / "group1-shard1of3.bin")
    with pytest.raises(model_io.ModelFileError, match="outside"):
        engine.models.load_model(str(web_model))


def test_unknown_layer_is_named_and_custom_objects_supply_it(web_model):
    _edit_manifest(web_model, lambda d: d["modelTopology"]["config"]["layers"][1].update(
        class_name="FancyDense"))
    with pytest.raises(model_io.UnknownLayerError, match="'FancyDense' \\(layer 'gate'\\)"):
        engine.models.load_model(str(web_model))

    class FancyDense(engine.layers.Dense):
        pass

    model = engine.models.load_model(str(web_model), custom_objects={"FancyDense": FancyDense})
    assert type(model.get_layer("gate")) is FancyDense


def test_malformed_json_names_the_file(web_model):
    (web_model / "model.json").write_text('{"format": "layers-model", "modelTopology": ')
    with pytest.raises(model_io.ModelFileError, match="model.json.*malformed JSON"):
        engine.models.load_model(str(web_model))


def test_bad_dtype_and_shape_are_refused_before_reading_shards(web_model):
    _edit_manifest(web_model, lambda d: d["weightsManifest"][0]["weights"][0].update(
        dtype="object"))
    with pytest.raises(model_io.ModelFileError, match="unsupported dtype 'object'"):
        engine.models.load_model(str(web_model))
    _edit_manifest(web_model, lambda d: d["weightsManifest"][0]["weights"][0].update(
        dtype="float32", shape=[8, -16]))
    with pytest.raises(model_io.ModelFileError, match="invalid shape"):
        engine.models.load_model(str(web_model))


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".engine"])
def test_corrupt_and_truncated_files_name_the_file(tmp_path, suffix):
    model, _ = io_models.build("mlp")
    path = tmp_path / f"m{suffix}"
    model.save(str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(model_io.ModelFileError, match=f"m\\{suffix}"):
        engine.models.load_model(str(path))
    path.write_bytes(b"not a model at all")
    with pytest.raises(model_io.ModelFileError, match=f"m\\{suffix}"):
        engine.models.load_model(str(path))


def test_weights_that_do_not_fit_leave_the_model_unchanged(tmp_path):
    model, _ = io_models.build("mlp")
    model.save_weights(str(tmp_path / "w.weights.h5"))
    other = engine.Sequential([engine.layers.Input((8,)), engine.layers.Dense(16, name="a"),
                               engine.layers.Dense(6, name="b"),
                               engine.layers.Dense(5, name="c")])
    before = other.get_weights()
    with pytest.raises(model_io.ModelFileError, match="shape"):
        other.load_weights(str(tmp_path / "w.weights.h5"))
    for want, got in zip(before, other.get_weights()):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------- atomic saves


@pytest.mark.parametrize("stage", ["encoding", "renaming"])
@pytest.mark.parametrize("save_format", sorted(PATHS))
def test_a_crash_during_save_keeps_the_previous_file(tmp_path, monkeypatch, save_format, stage):
    """Crashes while encoding, and after the new file is written but before it is renamed."""
    path = str(tmp_path / PATHS[save_format])
    old, x = io_models.build("mlp")
    old.save(path)
    new, _ = io_models.build("mlp", seed=9)

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    where = {"encoding": "engine.io.weights.to_numpy",
             "renaming": "os.rename" if save_format == "tfjs" else "os.replace"}[stage]
    monkeypatch.setattr(where, crash)
    with pytest.raises(RuntimeError, match="disk full"):
        new.save(path)
    monkeypatch.undo()
    np.testing.assert_array_equal(predict(engine.models.load_model(path), x), predict(old, x))
    assert sorted(os.listdir(tmp_path)) == [PATHS[save_format]]


def test_tfjs_save_refuses_a_folder_with_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    model, _ = io_models.build("mlp")
    with pytest.raises(ValueError, match="notes.txt"):
        model.save(str(tmp_path))
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_engine_and_tfjs_files_need_no_h5py_and_keras_files_say_what_to_install(tmp_path):
    """The core install (NumPy only): h5py missing, .engine and TF.js files still work; a
    .keras file names the extra to install."""
    script = (
        "import sys; sys.modules['h5py'] = None\n"
        "import numpy as np, engine\n"
        "m = engine.Sequential([engine.layers.Input((3,)), engine.layers.Dense(2)])\n"
        "for path in sys.argv[1:3]:\n"
        "    m.save(path); engine.models.load_model(path)\n"
        "try:\n"
        "    m.save(sys.argv[3])\n"
        "except ImportError as error:\n"
        "    print(error)\n")
    paths = [str(tmp_path / name) for name in ("m.engine", "web", "m.keras")]
    result = subprocess.run([sys.executable, "-c", script, *paths], capture_output=True,
                            text=True, timeout=120, check=True)
    assert "need h5py: pip install 'engine[io]'" in result.stdout
