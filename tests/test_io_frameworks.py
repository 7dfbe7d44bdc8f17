"""Files this engine writes, opened by the real frameworks: TF.js (pure JavaScript, via
node tests/fixtures/check_tfjs_models.js and train_tfjs_models.js) and Keras 3 (JAX backend);
predictions agree, and training resumes in either direction with the same weights."""
import json
import subprocess

import numpy as np
import pytest

import engine
from tests import io_models
from tests.helpers import FIXTURES, keras_or_skip, node_with_tfjs, predicted_by_tfjs

TRAIN_SCRIPT = FIXTURES / "train_tfjs_models.js"


def test_tfjs_loads_models_this_engine_saved(tmp_path):
    node_with_tfjs()
    models, expected = {}, {}
    for name in ("mlp", "cnn", "residual", "rnn", "zoo", "shared_outside",
                 "nested_output", "sequence") + io_models.NESTED:
        model, x = io_models.build(name)
        model.save(str(tmp_path / name))
        models[name] = (tmp_path / name, x)
        expected[name] = np.asarray(model.predict(x, verbose=0))
    # A Keras 3 .keras file converted to a web model (TF.js's own tools cannot do this).
    from engine.convert import main

    assert main([str(FIXTURES / "keras" / "residual.keras"), str(tmp_path / "converted")]) == 0
    case = json.loads((FIXTURES / "keras" / "expected.json").read_text())["residual"]
    models["converted"] = (tmp_path / "converted",
                           np.reshape(case["input"], case["input_shape"]).astype("float32"))
    expected["converted"] = np.array(case["output"])
    outputs = predicted_by_tfjs(models)
    assert sorted(outputs) == sorted(expected)
    for name, want in expected.items():
        np.testing.assert_allclose(outputs[name], want.ravel(), atol=1e-5, err_msg=name)


# Adam's epsilon is tiny because TF.js adds it to sqrt(v / (1 - beta_2^t)) and Keras to sqrt(v):
# at 1e-7 the two rules part by ~1e-3 on weights whose gradient is ~1e-6 (the states agree).
_RESUMED = {
    "adam": lambda: engine.optimizers.Adam(0.01, epsilon=1e-12),
    "momentum": lambda: engine.optimizers.SGD(0.1, momentum=0.9),
    "nesterov": lambda: engine.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
    "rmsprop": lambda: engine.optimizers.RMSprop(0.01, momentum=0.5),
    "adagrad": lambda: engine.optimizers.Adagrad(0.1),
}


# What TF.js resumes: each optimizer on the MLP, and Adam on each nested-model shape.
_RESUME_CASES = {**{name: ("mlp", name) for name in _RESUMED},
                 **{f"{model}_adam": (model, "adam") for model in io_models.NESTED}}


@pytest.fixture(scope="module")
def tfjs_resumed(tmp_path_factory):
    """Each case: a model trained one step here and saved with its optimizer, resumed in real
    TF.js (one step, saved to <case>_tfjs/, one more step). Returns (folder, {case: (x, y,
    this engine's weights after its own second step, optimizer name)}, TF.js's report)."""
    node = node_with_tfjs()
    root = tmp_path_factory.mktemp("resumed")
    cases = {}
    for case, (model_name, optimizer) in _RESUME_CASES.items():
        model, x = io_models.build(model_name)
        outputs = np.asarray(model.predict(x, verbose=0)).shape
        y = np.random.default_rng(5).normal(size=outputs).astype("float32")
        model.compile(optimizer=_RESUMED[optimizer](), loss="mse")
        model.train_on_batch(x, y)
        model.save(str(root / case))
        (root / case / "batch.json").write_text(json.dumps(
            {"x": x.ravel().tolist(), "x_shape": list(x.shape),
             "y": y.ravel().tolist(), "y_shape": list(y.shape)}))
        model.train_on_batch(x, y)
        cases[case] = (x, y, model.get_weights(), optimizer)
    result = subprocess.run([node, str(TRAIN_SCRIPT), str(root)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return root, cases, json.loads(result.stdout)


def _assert_same_weights(ours, theirs, case):
    """Each of our weights equals its own one of TF.js's, to float32 rounding (TF.js lists a
    nested model's weights in another order than Keras and this engine)."""
    theirs = [np.asarray(values) for values in theirs]
    assert len(theirs) == len(ours), case
    unmatched = list(range(len(theirs)))
    for weight in ours:
        match = next((i for i in unmatched if theirs[i].size == weight.size and np.allclose(
            theirs[i], np.ravel(weight), rtol=0, atol=1e-5)), None)
        assert match is not None, f"{case}: no TF.js weight equals ours of shape {weight.shape}"
        unmatched.remove(match)


def test_tfjs_resumes_training_from_files_this_engine_saved(tfjs_resumed):
    """TF.js's second step (from the file's trainingConfig, iteration and slots) equals ours; a
    misplaced or mis-signed slot, or a wrong iteration, is off by ~1e-3."""
    _, cases, report = tfjs_resumed
    assert sorted(report) == sorted(cases)
    for case, (_, _, want, _) in cases.items():
        assert report[case]["iterations"] == 3, case
        _assert_same_weights(want, report[case]["saved"], case)


def test_engine_resumes_training_from_files_tfjs_saved(tfjs_resumed):
    """Files TF.js saved with includeOptimizer load compiled here, and our next step equals
    TF.js's."""
    root, cases, report = tfjs_resumed
    for case, (x, y, _, optimizer) in cases.items():
        model = engine.models.load_model(str(root / f"{case}_tfjs"))
        assert type(model.optimizer).__name__ == type(_RESUMED[optimizer]()).__name__, case
        assert int(model.optimizer.iterations.numpy()) == 2, case
        model.train_on_batch(x, y)
        _assert_same_weights(model.get_weights(), report[case]["next"], case)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_opens_files_this_engine_saved(tmp_path, suffix):
    keras = keras_or_skip()
    for name in ("mlp", "cnn", "residual", "rnn", "zoo", "embedding",
                 "shared_outside", "sequence", "keras_only") + io_models.NESTED:
        model, x = io_models.build(name)
        model.compile(optimizer=engine.optimizers.Adam(0.01), loss="mse")
        model.train_on_batch(x, np.asarray(model.predict(x, verbose=0)) + 1)
        path = str(tmp_path / f"{name}{suffix}")
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)),
                                   np.asarray(model.predict(x, verbose=0)), atol=1e-5,
                                   err_msg=name)
        assert int(loaded.optimizer.iterations.numpy()) == 1, name


def _load_here_like(path, keras_model, x):
    """The file Keras saved, loaded here: the same layer classes and predictions."""
    loaded = engine.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in keras_model.layers]
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)),
                               np.asarray(keras_model.predict(x, verbose=0)), atol=1e-5)
    return loaded


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_this_engine_opens_files_keras_saved_with_layers_tfjs_lacks(tmp_path, suffix):
    keras = keras_or_skip()
    model, x = io_models.build("keras_only")
    theirs, _ = io_models.keras_only(keras, keras.layers)
    theirs.set_weights(model.get_weights())
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    _load_here_like(str(tmp_path / f"theirs{suffix}"), theirs, x)


def _node_references(config):
    """{layer name: the (layer, node, tensor) of each input of each of its inbound nodes}."""
    def references(argument):
        if isinstance(argument, (list, tuple)):
            return [r for item in argument for r in references(item)]
        return [tuple(argument["config"]["keras_history"])]

    return {layer["name"]: [references(node["args"]) for node in layer["inbound_nodes"]]
            for layer in config["layers"]}


def test_node_indices_count_only_the_calls_in_the_model_as_keras_does():
    """A layer called outside the model first: Keras 3 numbers its call inside the model 0 in
    the config; get_config agrees, and from_config rebuilds the same predictions."""
    keras = keras_or_skip()
    model, x = io_models.build("shared_outside")
    shared = keras.layers.Dense(4, activation="relu", name="shared")
    shared(keras.Input((8,), name="elsewhere"))
    values = keras.Input((8,), name="values")
    hidden = shared(values)
    joined = keras.layers.Concatenate(name="join")(
        [hidden, keras.layers.Dense(2, name="skip")(hidden)])
    reference = keras.Model(values, keras.layers.Dense(3, name="head")(joined)).get_config()
    config = json.loads(json.dumps(model.get_config()))
    assert _node_references(config) == _node_references(reference)
    assert config["output_layers"] == [reference["output_layers"]]
    rebuilt = engine.Model.from_config(config)
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(np.asarray(rebuilt.predict(x, verbose=0)),
                                  np.asarray(model.predict(x, verbose=0)))


@pytest.mark.parametrize("name", ("mlp",) + io_models.NESTED)
def test_keras_resumes_training_from_a_keras_file_this_engine_saved(tmp_path, name):
    """Optimizer slots land where Keras expects them: one more step in Keras equals one more
    step here (a misplaced slot would be off by ~1e-3; float32 rounding gives ~6e-6).
    (Keras 3.15 cannot resume training from any .h5 file, its own included: it builds the
    loaded optimizer for no variables.)"""
    keras = keras_or_skip()
    model, x = io_models.build(name)
    y = np.asarray(model.predict(x, verbose=0)) + 1
    model.compile(optimizer=engine.optimizers.Adam(0.01), loss="mse")
    model.train_on_batch(x, y)
    model.save(str(tmp_path / "m.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "m.keras"))
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for want, got in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_nested_model_outputs_numbered_as_keras_numbers_them(tmp_path, suffix):
    """A functional model called twice, both calls outputs of the outer model (Keras 3 numbers
    them 1 and 2 in output_layers, 0 and 1 everywhere else): each side's file loads on the
    other side, each output from its own call."""
    keras = keras_or_skip()
    model, x = io_models.build("nested_output")
    theirs, _ = io_models.nested_output(keras, keras.layers)
    theirs.set_weights(model.get_weights())
    model.save(str(tmp_path / f"ours{suffix}"))
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    want = [np.asarray(y) for y in model.predict(x, verbose=0)]
    assert not np.allclose(want[0], want[1])
    for loaded in (keras.saving.load_model(str(tmp_path / f"ours{suffix}")),
                   engine.models.load_model(str(tmp_path / f"theirs{suffix}"))):
        got = loaded.predict(x, verbose=0)
        assert len(got) == 2
        for output, expected in zip(got, want):
            np.testing.assert_allclose(np.asarray(output), expected, atol=1e-6)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_adapted_normalization_moves_both_ways_with_keras(tmp_path, suffix):
    """A Keras model with an adapted Normalization loads here with the same predictions, and
    Keras loads our save of it; TF.js, which has no such layer, is refused."""
    keras = keras_or_skip()
    data = np.random.default_rng(4).uniform(-3, 9, (20, 4)).astype("float32")
    normalization = keras.layers.Normalization()
    normalization.adapt(data)
    theirs = keras.Sequential([keras.Input((4,)), normalization, keras.layers.Dense(2)])
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    ours = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    want = np.asarray(theirs.predict(data, verbose=0))
    np.testing.assert_allclose(ours.predict(data, verbose=0), want, rtol=1e-5, atol=1e-5)
    ours.save(str(tmp_path / f"ours{suffix}"))
    back = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    np.testing.assert_allclose(np.asarray(back.predict(data, verbose=0)), want, rtol=1e-5,
                               atol=1e-5)
    with pytest.raises(ValueError, match="TF.js has no Normalization layer"):
        ours.save(str(tmp_path / "web"))


def _keras_nested(keras, name, frozen=False):
    """A Keras model of either shape io_models.NESTED covers: a Sequential ("transfer") or a
    functional model used as a layer of a functional model, optionally frozen."""
    layers = keras.layers
    if name == "transfer":
        inner = keras.Sequential([keras.Input((8,)), layers.Dense(6, activation="relu",
                                                                  name="d1"),
                                  layers.BatchNormalization(name="bn"),
                                  layers.Dense(4, name="d2")], name="base")
    else:
        inner_input = keras.Input((8,), name="inner_in")
        hidden = layers.Dense(4, activation="tanh", name="inner_dense")(inner_input)
        inner = keras.Model(inner_input, layers.BatchNormalization(name="inner_bn")(hidden),
                            name="encoder")
    inner.trainable = not frozen
    features = keras.Input((8,), name="features")
    return keras.Model(features, layers.Dense(3, name="head")(inner(features)), name=name)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize("name", io_models.NESTED + ("transfer_frozen",))
def test_nested_models_keras_saved_load_and_resume_training(tmp_path, name, suffix):
    """Weights at Keras's nested paths (.keras: layers/<model>/layers/...; .h5: the nested
    model's weights in one group, trainable first) and Adam's slots in Keras's order: the
    predictions and one more training step equal Keras's (with a frozen base: only the head
    trains, its BatchNormalization in inference mode)."""
    keras = keras_or_skip()
    rng = np.random.default_rng(3)
    model = _keras_nested(keras, name.replace("_frozen", ""), frozen=name.endswith("frozen"))
    model.set_weights([rng.uniform(0.5, 1.5, w.shape) if "moving_variance" in w.path
                       else rng.uniform(-0.5, 0.5, w.shape) for w in model.weights])
    x = rng.uniform(-1, 1, (4, 8)).astype("float32")
    y = np.asarray(model.predict(x, verbose=0)) + 1
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.MeanSquaredError())
    model.train_on_batch(x, y)
    model.save(str(tmp_path / f"{name}{suffix}"))
    loaded = _load_here_like(str(tmp_path / f"{name}{suffix}"), model, x)
    assert int(loaded.optimizer.iterations.numpy()) == 1
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    for want, got in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(got, np.asarray(want), rtol=0, atol=1e-5)
