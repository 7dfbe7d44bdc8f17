"""TimeDistributed and Bidirectional: forward values against float64 NumPy formulas and real
Keras 3, training against Keras's step, shapes, configs in Keras 3's form, clear errors, and
model files both ways with real Keras (.keras, .h5) and real TF.js (layers model)."""
import json
import os
import subprocess
import warnings

import numpy as np
import pytest

import engine
from engine import layers
from tests import io_models
from tests.helpers import (FIXTURES, keras_or_skip, keras_twins, node_with_tfjs,
                           predicted_by_tfjs, saved_by_tfjs, sgd_steps_like_keras)


def _uniform(shape, seed=0, low=-1.0, high=1.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)


# ---------------------------------------------------------------------------- NumPy references


def _simple_rnn_reference(x, kernel, recurrent, bias, backwards=False):
    """Every step's h = tanh(x_t W + h U + b), in processing order (float64)."""
    x = x.astype(np.float64)
    h = np.zeros((x.shape[0], recurrent.shape[0]))
    steps = range(x.shape[1] - 1, -1, -1) if backwards else range(x.shape[1])
    outputs = []
    for t in steps:
        h = np.tanh(x[:, t] @ kernel + h @ recurrent + bias)
        outputs.append(h)
    return np.stack(outputs, axis=1)


_MERGES = {"concat": lambda a, b: np.concatenate([a, b], axis=-1), "sum": np.add,
           "mul": np.multiply, "ave": lambda a, b: (a + b) / 2}


@pytest.mark.parametrize("merge_mode", sorted(_MERGES))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_numpy(backend, merge_mode, return_sequences):
    """The backward run reads the sequence from its end; with return_sequences its outputs
    are put back in time order before merging."""
    x = _uniform((3, 4, 2))
    layer = layers.Bidirectional(layers.SimpleRNN(5, return_sequences=return_sequences),
                                 merge_mode=merge_mode)
    got = layer(engine.tensor(x)).numpy()
    forward_weights = [w.numpy().astype(np.float64) for w in layer.forward_layer.weights]
    backward_weights = [w.numpy().astype(np.float64) for w in layer.backward_layer.weights]
    forward = _simple_rnn_reference(x, *forward_weights)
    backward = _simple_rnn_reference(x, *backward_weights, backwards=True)
    if return_sequences:
        forward, backward = forward, backward[:, ::-1]
    else:
        forward, backward = forward[:, -1], backward[:, -1]
    np.testing.assert_allclose(got, _MERGES[merge_mode](forward, backward), rtol=1e-5,
                               atol=1e-5)


def test_time_distributed_dense_matches_numpy(backend):
    x = _uniform((2, 3, 4, 5))
    layer = layers.TimeDistributed(layers.Dense(3, activation="relu"))
    got = layer(engine.tensor(x)).numpy()
    kernel, bias = (w.numpy().astype(np.float64) for w in layer.layer.weights)
    want = np.stack([np.maximum(x[:, t].astype(np.float64) @ kernel + bias, 0)
                     for t in range(3)], axis=1)
    assert got.shape == (2, 3, 4, 3)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- against Keras


def _bidirectional_model(merge_mode, cell="LSTM", return_state=False):
    def build(lib):
        values = lib.layers.Input((6, 3), name="values")
        rnn = getattr(lib.layers, cell)(4, return_sequences=True, return_state=return_state)
        outputs = lib.layers.Bidirectional(rnn, merge_mode=merge_mode, name="bi")(values)
        return lib.Model(values, outputs)
    return build


@pytest.mark.parametrize("case", ["concat-LSTM", "sum-GRU", "mul-SimpleRNN", "ave-LSTM",
                                  "None-GRU", "concat-LSTM-state", "None-LSTM-state"])
def test_bidirectional_matches_keras(case):
    """Every merge mode and recurrent layer, return_state too: Keras's outputs and shapes."""
    merge_mode, cell, *state = case.split("-")
    merge_mode = None if merge_mode == "None" else merge_mode
    _, theirs, ours = keras_twins(_bidirectional_model(merge_mode, cell, bool(state)), seed=0)
    x = _uniform((2, 6, 3), seed=1)
    want = theirs(x)
    got = ours(engine.tensor(x))
    want, got = (list(want), list(got)) if isinstance(want, (list, tuple)) else ([want], [got])
    assert [tuple(o.shape) for o in ours.outputs] == [tuple(o.shape) for o in theirs.outputs]
    assert len(got) == len(want)
    for mine, reference in zip(got, want):
        np.testing.assert_allclose(mine.numpy(), np.asarray(reference), rtol=1e-5, atol=1e-5)


def _time_distributed_model(lib):
    frames = lib.layers.Input((3, 6, 6, 2), name="frames")
    conv = lib.layers.TimeDistributed(lib.layers.Conv2D(3, 3, activation="relu"),
                                      name="conv")(frames)
    flat = lib.layers.TimeDistributed(lib.layers.Flatten(), name="flat")(conv)
    dropped = lib.layers.TimeDistributed(lib.layers.Dropout(0.5), name="drop")(flat)
    steps = lib.layers.TimeDistributed(lib.layers.Dense(4, activation="tanh"),
                                       name="dense")(dropped)
    summary = lib.layers.Bidirectional(lib.layers.GRU(2), name="bigru")(steps)
    return lib.Model(frames, lib.layers.Dense(2, name="head")(summary))


def test_time_distributed_layers_match_keras():
    """Conv2D, Flatten, Dropout (identity at inference) and Dense on every frame: Keras's
    outputs and output shapes."""
    _, theirs, ours = keras_twins(_time_distributed_model, seed=0)
    x = _uniform((2, 3, 6, 6, 2), seed=2)
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-5)
    assert [tuple(layer.output.shape) for layer in ours.layers] == \
        [tuple(layer.output.shape) for layer in theirs.layers]


def _masked_text_model(lib):
    tokens = lib.layers.Input((6,), dtype="int32", name="tokens")
    vectors = lib.layers.Embedding(10, 3, mask_zero=True, name="embed")(tokens)
    steps = lib.layers.Bidirectional(lib.layers.LSTM(4, return_sequences=True), name="bi")(vectors)
    per_step = lib.layers.TimeDistributed(lib.layers.Dense(3, activation="tanh"),
                                          name="td")(steps)
    summary = lib.layers.Bidirectional(lib.layers.GRU(2), merge_mode="sum",
                                       name="bigru")(per_step)
    return lib.Model(tokens, [lib.layers.Dense(2, name="head")(summary), steps])


def test_padding_mask_flows_through_both_wrappers_as_in_keras():
    """Embedding(mask_zero=True): both directions skip the padded steps (their sequence
    outputs are zeros there) and TimeDistributed passes the mask on, so padded and left-padded
    texts give Keras's predictions."""
    if not hasattr(layers.Layer, "compute_mask"):
        pytest.skip("this engine's layers pass no masks yet (no Layer.compute_mask)")
    _, theirs, ours = keras_twins(_masked_text_model, seed=0)
    x = np.array([[3, 4, 5, 0, 0, 0], [0, 0, 1, 2, 3, 9]], np.int32)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*mask")
        got = ours.predict(x, verbose=0)
    want = theirs.predict(x, verbose=0)
    assert len(got) == len(want) == 2
    for mine, reference in zip(got, want):
        np.testing.assert_allclose(mine, np.asarray(reference), rtol=1e-5, atol=1e-5)


def _sequence_classifier(lib):
    return lib.Sequential([lib.layers.Input((5, 3)),
                           lib.layers.Bidirectional(lib.layers.LSTM(4, return_sequences=True)),
                           lib.layers.TimeDistributed(lib.layers.Dense(3, activation="tanh")),
                           lib.layers.Bidirectional(lib.layers.GRU(2), merge_mode="sum"),
                           lib.layers.Dense(2)])


def test_training_steps_match_keras(backend):
    """Gradients flow through both wrappers into every weight: two SGD steps equal Keras's."""
    keras, theirs, ours = keras_twins(_sequence_classifier, seed=0)
    x, y = _uniform((4, 5, 3), seed=3), _uniform((4, 2), seed=4)
    before = sgd_steps_like_keras(keras, theirs, ours, x, y, 0.5)
    for start, got in zip(before, ours.get_weights()):
        assert not np.allclose(got, start)


def test_summary_rows_match_keras_shapes_and_counts():
    _, theirs, ours = keras_twins(_sequence_classifier, seed=0)
    lines = []
    ours.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for layer, reference in zip(ours.layers, theirs.layers):
        row = next(line for line in lines if line.startswith(layer.name + " "))
        assert str(tuple(reference.output.shape)) in row, row
        assert row.rstrip().endswith(str(reference.count_params())), row
    assert f"Total params: {theirs.count_params():,}" in text


# ---------------------------------------------------------------------------- configs


def test_configs_have_keras3_form_and_round_trip():
    """get_config nests the wrapped layers as Keras 3 does (module, class_name, config,
    registered_name; forward_/backward_ names); from_config and model_from_json rebuild them,
    and Keras reads our JSON."""
    keras, theirs, ours = keras_twins(_sequence_classifier, seed=0)
    for mine, reference in zip(ours.layers[:3], theirs.layers[:3]):
        got, want = mine.get_config(), reference.get_config()
        assert sorted(got) == sorted(want)
        for key in ("layer", "backward_layer"):
            if key in want:
                assert sorted(got[key]) == sorted(want[key])
                assert {k: got[key][k] for k in ("module", "class_name", "registered_name")} \
                    == {k: want[key][k] for k in ("module", "class_name", "registered_name")}
                assert got[key]["config"]["name"] == want[key]["config"]["name"]
                assert got[key]["config"].get("go_backwards") == \
                    want[key]["config"].get("go_backwards")
    x = _uniform((2, 5, 3), seed=5)
    want = ours.predict(x, verbose=0)
    rebuilt = engine.Sequential.from_config(ours.get_config())
    from_json = engine.models.model_from_json(ours.to_json())
    keras_read = keras.models.model_from_json(ours.to_json())
    for model in (rebuilt, from_json, keras_read):
        model.set_weights([np.asarray(w) for w in ours.get_weights()])
        np.testing.assert_allclose(np.asarray(model.predict(x, verbose=0)), want, rtol=1e-5,
                                   atol=1e-6)
    assert [layer.name for layer in from_json.layers[0].layers] == ["forward_lstm",
                                                                    "backward_lstm"]


def test_custom_backward_layer_and_initial_weights():
    """A given backward_layer is used as is (and survives the config round trip); `weights`
    sets the forward then the backward weights on build."""
    layers.clear_session()
    forward = layers.LSTM(3, return_sequences=True)
    backward = layers.LSTM(3, activation="relu", return_sequences=True, go_backwards=True,
                           name="reverse")
    bi = layers.Bidirectional(forward, backward_layer=backward)
    assert bi.backward_layer is backward and bi.forward_layer.name == "forward_lstm"
    bi(engine.zeros((1, 4, 2)))
    copy = layers.Bidirectional.from_config(bi.get_config())
    assert copy.backward_layer.name == "reverse"
    assert copy.backward_layer.activation is backward.activation
    values = [_uniform(w.shape, seed=i) for i, w in enumerate(bi.weights)]
    seeded = layers.Bidirectional(layers.LSTM(3, return_sequences=True), weights=values)
    seeded(engine.zeros((1, 4, 2)))
    for got, want in zip(seeded.get_weights(), values):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize("make, words", [
    (lambda: layers.Bidirectional(layers.Dense(3), name="bi"),
     ["Bidirectional layer 'bi'", "recurrent", "Dense layer 'dense"]),
    (lambda: layers.Bidirectional(layers.LSTM(3), merge_mode="max"),
     ["Bidirectional", "merge_mode", "'max'", "'concat'"]),
    (lambda: layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3)),
     ["Bidirectional", "go_backwards"]),
    (lambda: layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(
        3, go_backwards=True, return_sequences=True)), ["return_sequences", "False and True"]),
    (lambda: layers.TimeDistributed("dense"), ["TimeDistributed", "layer instance", "str"]),
])
def test_bad_arguments_are_refused_before_anything_is_named(make, words):
    """The error names the wrapper, what it got and what it expects; no wrapper name was
    used up (the next one is still 'bidirectional' / 'time_distributed')."""
    layers.clear_session()
    with pytest.raises(ValueError) as error:
        make()
    for word in words:
        assert word in str(error.value)
    assert layers.Bidirectional(layers.GRU(2)).name == "bidirectional"
    assert layers.TimeDistributed(layers.Dense(2)).name == "time_distributed"


def test_time_distributed_refuses_inputs_without_a_time_axis():
    inner = layers.Dense(2)
    wrapper = layers.TimeDistributed(inner, name="per_step")
    for call in (lambda: wrapper(layers.Input((4,))), lambda: wrapper(engine.zeros((3, 4)))):
        with pytest.raises(ValueError, match=r"'per_step'.*min_ndim=3.*ndim=2.*\(.*, 4\)"):
            call()
    assert not inner.built and not wrapper.built


def test_bidirectional_refuses_inputs_of_another_rank():
    bi = layers.Bidirectional(layers.LSTM(2), name="bi")
    with pytest.raises(ValueError, match=r"'bi'.*ndim=3.*ndim=2"):
        bi(layers.Input((4,)))
    assert not bi.built and not bi.forward_layer.built


def test_tfjs_refuses_what_it_cannot_express(tmp_path):
    """A hand-made backward layer, and GRU reset_after=True inside a wrapper, have no TF.js
    form: saving says so, naming the layer."""
    custom = engine.Sequential([layers.Input((4, 2)), layers.Bidirectional(
        layers.LSTM(2), backward_layer=layers.LSTM(2, activation="relu", go_backwards=True),
        name="bi")])
    with pytest.raises(ValueError, match="'bi'.*backward_layer"):
        custom.save(str(tmp_path / "custom"))
    gru = engine.Sequential([layers.Input((4, 2)), layers.Bidirectional(layers.GRU(2))])
    with pytest.raises(ValueError, match="reset_after"):
        gru.save(str(tmp_path / "gru"))


# ---------------------------------------------------------------------------- files


def _keras_wrappers(keras):
    """io_models.wrappers built with Keras, with random weights."""
    L = keras.layers
    model = keras.Sequential([keras.Input((5, 3)),
                              L.Bidirectional(L.LSTM(4, return_sequences=True), name="bilstm"),
                              L.TimeDistributed(L.Dense(3, activation="tanh"), name="per_step"),
                              L.Bidirectional(L.GRU(2, reset_after=False), merge_mode="ave",
                                              name="bigru"),
                              L.Dense(2, name="out")], name="wrappers")
    rng = np.random.default_rng(7)
    model.set_weights([rng.uniform(-0.5, 0.5, w.shape) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_files_move_both_ways_with_keras(tmp_path, suffix):
    """Keras's file loads here and ours loads in Keras, with the same predictions (and the
    GRU with Keras 3's default reset_after=True, which only Keras files can hold)."""
    keras = keras_or_skip()
    theirs = _keras_wrappers(keras)
    x = _uniform((2, 5, 3), seed=8)
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    loaded = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in theirs.layers]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), np.asarray(
        theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    for name in ("wrappers", "time_distributed"):
        model = io_models.build(name)[0] if name == "wrappers" else \
            keras_twins(_time_distributed_model, seed=0)[2]
        x = _uniform((2,) + tuple(model.inputs[0].shape[1:]), seed=9)
        model.compile(optimizer=engine.optimizers.Adam(0.01), loss="mse")
        model.save(str(tmp_path / f"{name}{suffix}"))
        back = keras.saving.load_model(str(tmp_path / f"{name}{suffix}"))
        np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                                   model.predict(x, verbose=0), rtol=1e-5, atol=1e-5,
                                   err_msg=name)


def test_tfjs_loads_the_layers_model_this_engine_saved(tmp_path):
    model, x = io_models.build("wrappers")
    model.save(str(tmp_path / "wrappers"))
    got = predicted_by_tfjs({"wrappers": (tmp_path / "wrappers", x)})["wrappers"]
    np.testing.assert_allclose(got, model.predict(x, verbose=0).ravel(), rtol=1e-5, atol=1e-5)


def test_engine_loads_the_layers_model_tfjs_saved(tmp_path):
    """TF.js names the weights bidirectional_X/forward_lstm_Y/kernel and time_distributed_Z/
    kernel (its wrapped Dense's name left out): all are found, with TF.js's predictions."""
    x, want = saved_by_tfjs(tmp_path, """
        const model = tf.sequential();
        model.add(tf.layers.bidirectional({layer: tf.layers.lstm({units: 4,
                                                                  returnSequences: true}),
                                           inputShape: [5, 3]}));
        model.add(tf.layers.timeDistributed({layer: tf.layers.dense({units: 3,
                                                                     activation: 'tanh'})}));
        model.add(tf.layers.bidirectional({layer: tf.layers.gru({units: 2}), mergeMode: 'mul'}));
        model.add(tf.layers.dense({units: 2}));
        return model;""", (2, 5, 3))
    model = engine.models.load_model(str(tmp_path / "model.json"))
    assert [type(layer).__name__ for layer in model.layers] == [
        "Bidirectional", "TimeDistributed", "Bidirectional", "Dense"]
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)


def test_training_resumes_both_ways_with_tfjs(tmp_path):
    """Optimizer slots of the wrapped layers' weights are found under TF.js's names: TF.js's
    step from our file equals ours, and our step from TF.js's file equals TF.js's."""
    node = node_with_tfjs()
    model, x = io_models.build("wrappers")
    y = _uniform((x.shape[0], 2), seed=10)
    model.compile(optimizer=engine.optimizers.Adam(0.01, epsilon=1e-12), loss="mse")
    model.train_on_batch(x, y)
    model.save(str(tmp_path / "wrappers"))
    (tmp_path / "wrappers" / "batch.json").write_text(json.dumps(
        {"x": x.ravel().tolist(), "x_shape": list(x.shape), "y": y.ravel().tolist(),
         "y_shape": list(y.shape)}))
    model.train_on_batch(x, y)
    result = subprocess.run([node, os.path.join(FIXTURES, "train_tfjs_models.js"),
                             str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)["wrappers"]
    assert report["iterations"] == 3
    assert len(report["saved"]) == len(report["next"]) == len(model.weights) == 16
    for got, want in zip(report["saved"], model.get_weights()):
        np.testing.assert_allclose(got, want.ravel(), rtol=0, atol=1e-5)
    resumed = engine.models.load_model(str(tmp_path / "wrappers_tfjs"))
    assert int(resumed.optimizer.iterations.numpy()) == 2
    resumed.train_on_batch(x, y)
    for got, want in zip(resumed.get_weights(), report["next"]):
        np.testing.assert_allclose(got.ravel(), want, rtol=0, atol=1e-5)
