"""Sequential and functional models: prediction against NumPy, training that lowers the loss,
gradients against finite differences, summary counts, errors that change nothing, configs,
and predictions against real Keras (when installed) with the same weights."""
import json

import numpy as np
import pytest

import engine
from engine import layers
from tests.helpers import (TOLERANCES, float64_supported, keras_or_skip, keras_twins,
                           numerical_gradient, random_array)


def regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32)
    return x, y


def assert_weights_equal(before, after):
    assert len(before) == len(after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)


# ---------------------------------------------------------------------------- Sequential

def test_sequential_predict_matches_numpy_and_fit_lowers_loss(backend):
    engine.set_seed(0)
    model = engine.Sequential([layers.Input((3,)), layers.Dense(8, activation="tanh"),
                               layers.Dense(1)])
    x, y = regression_data()
    k1, b1, k2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    np.testing.assert_allclose(model.predict(x, batch_size=10),
                               np.tanh(x @ k1 + b1) @ k2 + b2, **TOLERANCES["matmul"])
    model.compile(optimizer=engine.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=8, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    assert len(history.history["loss"]) == 8
    after = model.evaluate(x, y, verbose=0)
    assert after[0] < 0.3 * before[0]
    assert isinstance(after[1], float)


def test_sequential_builds_from_input_shape_or_first_call():
    with_shape = engine.Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2)])
    assert with_shape.built and with_shape.outputs[0].shape == (None, 2)
    lazy = engine.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not lazy.built
    assert lazy.predict(np.zeros((5, 3), np.float32)).shape == (5, 2)
    assert lazy.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    popped = lazy.pop()
    assert isinstance(popped, layers.Dense) and len(lazy.layers) == 1
    assert lazy.predict(np.zeros((1, 3), np.float32)).shape == (1, 4)


def test_sequential_rejects_incompatible_layer_at_add_time():
    model = engine.Sequential([layers.Input((4, 4, 3)), layers.Flatten()])
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=2"):
        model.add(layers.Conv2D(2, 3))
    assert len(model.layers) == 1


# ---------------------------------------------------------------------------- functional

def test_functional_residual_two_inputs_two_outputs_shared_layer(backend):
    a, b = layers.Input((4,), name="a"), layers.Input((4,), name="b")
    shared = layers.Dense(4, activation="relu", name="shared")
    merged = layers.Add(name="residual")([shared(a), shared(b), a])
    first = layers.Dense(2, name="first")(merged)
    second = layers.Dense(1, name="second")(layers.Concatenate()([merged, b]))
    model = engine.Model([a, b], [first, second])
    assert [layer.name for layer in model.layers][:3] == ["a", "b", "shared"]
    assert len(model.weights) == 6  # the shared layer's weights appear once
    xa, xb = random_array((5, 4)), random_array((5, 4), 1)
    ks, bs, k1, b1, k2, b2 = [w.astype(np.float64) for w in model.get_weights()]
    hidden = np.maximum(xa @ ks + bs, 0) + np.maximum(xb @ ks + bs, 0) + xa
    got_first, got_second = model.predict({"a": xa, "b": xb})
    np.testing.assert_allclose(got_first, hidden @ k1 + b1, **TOLERANCES["matmul"])
    np.testing.assert_allclose(got_second, np.concatenate([hidden, xb], 1) @ k2 + b2,
                               **TOLERANCES["matmul"])

    model.compile(optimizer=engine.optimizers.Adam(0.05), loss=["mse", "mae"],
                  loss_weights=[1.0, 0.5], metrics={"second": ["mse"]})
    targets = [random_array((5, 2), 2), random_array((5, 1), 3)]
    before = model.evaluate([xa, xb], targets, verbose=0, return_dict=True)
    assert set(before) == {"loss", "first_loss", "second_loss", "second_mse"}
    np.testing.assert_allclose(before["second_mse"], np.mean((got_second - targets[1]) ** 2),
                               rtol=1e-4)
    np.testing.assert_allclose(before["loss"], before["first_loss"] + 0.5 * before["second_loss"],
                               rtol=1e-5)
    model.fit([xa, xb], targets, epochs=30, batch_size=5, verbose=0)
    after = model.evaluate([xa, xb], targets, verbose=0, return_dict=True)
    assert after["loss"] < 0.5 * before["loss"]


def test_model_gradients_match_finite_differences(backend):
    if not float64_supported(backend):
        pytest.skip("finite differences need float64")
    inputs = layers.Input((3,), dtype="float64")
    hidden = layers.Dense(4, activation="tanh", dtype="float64")(inputs)
    hidden = layers.BatchNormalization(dtype="float64")(hidden)
    outputs = layers.Dense(2, dtype="float64")(layers.Add(dtype="float64")([hidden, hidden]))
    model = engine.Model(inputs, outputs)
    x = random_array((6, 3), dtype=np.float64)
    target = random_array((6, 2), 1, dtype=np.float64)

    def loss_of(*weights):
        for variable, value in zip(model.trainable_weights, weights):
            variable.assign(engine.tensor(value, dtype="float64"))
        return float(engine.mean(engine.square(model(x, training=False) - target)).item())

    trainable = [w.numpy() for w in model.trainable_weights]
    with engine.GradientTape() as tape:
        loss = engine.mean(engine.square(model(x, training=False) - target))
    grads = tape.gradient(loss, model.trainable_weights)
    for index, grad in enumerate(grads):
        expected = numerical_gradient(loss_of, trainable, index, eps=1e-6)
        loss_of(*trainable)
        np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_subclassed_model_tracks_layers_and_trains(backend):
    class TwoLayers(engine.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    engine.set_seed(1)
    model = TwoLayers()
    x, y = regression_data(32)
    model.compile(optimizer="adam", loss="mse")
    first = model.train_on_batch(x, y)
    assert len(model.trainable_weights) == 4
    for _ in range(20):
        last = model.train_on_batch(x, y)
    assert last < first
    np.testing.assert_allclose(model.test_on_batch(x, y),
                               np.mean((model.predict_on_batch(x) - y) ** 2), rtol=1e-4)


def _fixed_values(shape, dtype=None):
    """An initializer both Keras and engine call: the same values for the same shape."""
    size = int(np.prod(shape))
    return (np.sin(np.arange(1, size + 1)) / 2).reshape(shape).astype("float32")


def _subclassed(lib):
    """A subclassed model (layers made in __init__, weights made by the first call)."""
    class Subclassed(lib.Model):
        def __init__(self):
            super().__init__()
            self.hidden = lib.layers.Dense(8, activation="relu",
                                           kernel_initializer=_fixed_values)
            self.out = lib.layers.Dense(1, kernel_initializer=_fixed_values)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    return Subclassed()


def test_subclassed_model_trains_from_its_first_step_as_keras():
    """Its weights appear during the first call, inside the first training step: that step
    must update them too (it was skipped), so the histories equal Keras's from epoch 1."""
    keras = keras_or_skip()
    x, y = regression_data(16)
    theirs, ours = _subclassed(keras), _subclassed(engine)
    theirs.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    ours.compile(optimizer=engine.optimizers.SGD(0.1), loss="mse")
    want = theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
    got = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_subclassed_model_learns_in_its_first_step_and_loads_weights(tmp_path):
    x, y = regression_data(16)
    model = _subclassed(engine)
    model.compile(optimizer=engine.optimizers.SGD(0.1), loss="mse")
    first = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert first[1] < first[0]  # the first step (which built the layers) moved the weights
    lines = []
    model.summary(print_fn=lines.append)
    assert any(line.startswith("dense") and "?" in line and "32" in line for line in lines)
    model.save_weights(str(tmp_path / "sub.weights.h5"))
    other = _subclassed(engine)
    with pytest.raises(ValueError, match=r"layers \['dense_\d+', 'dense_\d+'\] are not built"):
        other.load_weights(str(tmp_path / "sub.weights.h5"))
    other(x[:1])
    other.load_weights(str(tmp_path / "sub.weights.h5"))
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))

    def batches():
        while True:
            yield x[:8], y[:8]

    history = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0).history["loss"]
    assert len(history) == 2 and history[1] < history[0]


# ---------------------------------------------------------------------------- training details

def test_batch_normalization_moving_statistics_update_during_fit(backend):
    model = engine.Sequential([layers.Input((3,)), layers.BatchNormalization(momentum=0.5)])
    model.compile(optimizer="sgd", loss="mse")
    x = random_array((8, 3), low=2, high=4)
    model.fit(x, x, batch_size=8, epochs=1, shuffle=False, verbose=0)
    bn = model.layers[0]
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * x.astype(np.float64).mean(0),
                               **TOLERANCES["reduction"])
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               0.5 + 0.5 * x.astype(np.float64).var(0), **TOLERANCES["reduction"])


def test_frozen_layers_keep_their_weights_and_statistics(backend):
    model = engine.Sequential([layers.Input((3,)), layers.Dense(4), layers.BatchNormalization(),
                               layers.Dense(1)])
    frozen = model.layers[:2]
    for layer in frozen:
        layer.trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6
    before = [layer.get_weights() for layer in frozen]
    model.compile(optimizer="sgd", loss="mse")
    last = model.layers[2].get_weights()
    model.fit(random_array((16, 3)), random_array((16, 1), 1), epochs=2, verbose=0)
    for layer, weights in zip(frozen, before):
        assert_weights_equal(weights, layer.get_weights())
    assert not np.array_equal(last[0], model.layers[2].get_weights()[0])


def test_class_weight_equals_matching_sample_weight(backend):
    x = random_array((6, 3))
    labels = np.array([0, 1, 2, 1, 0, 2])
    weights = {0: 1.0, 1: 2.0, 2: 0.5}
    losses = []
    for kwargs in ({"class_weight": weights},
                   {"sample_weight": np.array([weights[c] for c in labels])}):
        engine.set_seed(4)
        layers.clear_session()
        model = engine.Sequential([layers.Input((3,)), layers.Dense(3, activation="softmax")])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        losses.append(model.train_on_batch(x, labels, **kwargs))
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-6)


def _weighted_metrics_model(lib):
    model = lib.Sequential([lib.layers.Input((3,)), lib.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], weighted_metrics=["accuracy"])
    return model


def test_metrics_ignore_sample_weight_and_weighted_metrics_use_it(backend):
    """As in Keras 3: `metrics` are unweighted, `weighted_metrics` weighted by sample_weight,
    logged as "weighted_<name>" where the plain name is taken."""
    layers.clear_session()
    model = _weighted_metrics_model(engine)
    x, sample_weight = random_array((8, 3)), np.linspace(0.2, 2.0, 8)
    predicted = np.argmax(model.predict(x, verbose=0), axis=-1)
    labels = np.concatenate([predicted[:5], (predicted[5:] + 1) % 3])  # 5 of 8 right
    logs = model.evaluate(x, labels, sample_weight=sample_weight, return_dict=True, verbose=0)
    assert sorted(logs) == ["accuracy", "loss", "weighted_accuracy"]
    np.testing.assert_allclose(logs["accuracy"], 5 / 8, rtol=1e-6)
    np.testing.assert_allclose(logs["weighted_accuracy"],
                               sample_weight[:5].sum() / sample_weight.sum(), rtol=1e-6)


def test_weighted_training_logs_match_keras(backend):
    """fit with sample weights and weighted validation data: the same history as Keras."""
    _, theirs, ours = keras_twins(_weighted_metrics_model)
    rng = np.random.default_rng(2)
    x, labels = random_array((24, 3)), rng.integers(0, 3, 24)
    sample_weight = rng.uniform(0.1, 2.0, 24).astype(np.float32)
    histories = [model.fit(x, labels, sample_weight=sample_weight, batch_size=8, epochs=2,
                           shuffle=False, verbose=0,
                           validation_data=(x[:8], labels[:8], sample_weight[:8])).history
                 for model in (theirs, ours)]
    assert sorted(histories[1]) == sorted(histories[0])
    for key, values in histories[0].items():
        np.testing.assert_allclose(histories[1][key], values, rtol=1e-5, err_msg=key)


def _two_layer(lib, outputs=2, activation=None):
    return lib.Sequential([lib.layers.Input((6,)), lib.layers.Dense(5, activation="tanh"),
                           lib.layers.Dense(outputs, activation=activation)])


def _two_heads(lib):
    values = lib.layers.Input((6,), name="values")
    hidden = lib.layers.Dense(5, activation="relu", name="hidden")(values)
    return lib.Model(values, [lib.layers.Dense(1, name="reg")(hidden),
                              lib.layers.Dense(3, activation="softmax", name="cls")(hidden)])


_DATA = np.random.default_rng(3)
_X = _DATA.uniform(0, 1, (40, 6)).astype(np.float32)
_Y = _DATA.uniform(0, 1, (40, 2)).astype(np.float32)
_LABELS = _DATA.integers(0, 3, 40)
_FIT_CASES = {  # model(lib), compile kwargs(lib), y, fit kwargs(lib)
    "reduce_lr_on_plateau": (
        _two_layer, lambda lib: dict(optimizer=lib.optimizers.SGD(0.5), loss="mse"), _Y,
        lambda lib: dict(epochs=6, callbacks=[lib.callbacks.ReduceLROnPlateau(
            monitor="loss", factor=0.5, patience=0, min_delta=0.01)])),
    "early_stopping_restores_best": (
        _two_layer, lambda lib: dict(optimizer=lib.optimizers.SGD(0.3, momentum=0.9),
                                     loss="mse"), _Y,
        lambda lib: dict(epochs=30, validation_data=(_X[:8], _Y[:8] * 3), callbacks=[
            lib.callbacks.EarlyStopping(monitor="val_loss", patience=2,
                                        restore_best_weights=True)])),
    "lr_scheduler": (
        _two_layer, lambda lib: dict(optimizer=lib.optimizers.SGD(0.1), loss="mae"), _Y,
        lambda lib: dict(epochs=3, callbacks=[
            lib.callbacks.LearningRateScheduler(lambda epoch, rate: rate * 0.5)])),
    "class_weight": (
        lambda lib: _two_layer(lib, 3, "softmax"),
        lambda lib: dict(optimizer=lib.optimizers.Adam(0.01),
                         loss="sparse_categorical_crossentropy", metrics=["accuracy"]),
        _LABELS, lambda lib: dict(epochs=2, class_weight={0: 1.0, 1: 3.0, 2: 0.5})),
    "validation_freq_steps_batch_size": (
        _two_layer, lambda lib: dict(optimizer=lib.optimizers.SGD(0.2), loss="mse"), _Y,
        lambda lib: dict(epochs=4, validation_data=(_X[:16], _Y[:16]), validation_freq=2,
                         validation_steps=2, validation_batch_size=4)),
    "two_heads_validation_split": (
        _two_heads, lambda lib: dict(
            optimizer=lib.optimizers.Adam(0.01),
            loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"},
            loss_weights={"reg": 2.0, "cls": 0.5}, metrics={"reg": ["mae"], "cls": ["accuracy"]}),
        {"reg": _Y[:, :1], "cls": _LABELS}, lambda lib: dict(epochs=2, validation_split=0.25)),
}


@pytest.mark.parametrize("case", sorted(_FIT_CASES))
def test_fit_histories_and_weights_match_keras(backend, case):
    """Same weights, data and settings (no shuffling): Keras's history and final weights."""
    build, compile_kwargs, y, fit_kwargs = _FIT_CASES[case]
    keras, *models = keras_twins(build)
    results = []
    for lib, model in zip((keras, engine), models):
        model.compile(**compile_kwargs(lib))
        history = model.fit(_X, y, batch_size=8, shuffle=False, verbose=0, **fit_kwargs(lib))
        results.append((history.history, [np.asarray(w) for w in model.get_weights()]))
    (theirs, their_weights), (ours, our_weights) = results
    assert sorted(ours) == sorted(theirs)
    for key, values in theirs.items():
        np.testing.assert_allclose(ours[key], values, rtol=1e-4, atol=1e-6, err_msg=key)
    for got, want in zip(our_weights, their_weights):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _dict_model(lib):
    values, extra = lib.layers.Input((6,), name="values"), lib.layers.Input((3,), name="extra")
    hidden = lib.layers.Concatenate()([lib.layers.Dense(4, name="dv")(values), extra])
    return lib.Model({"values": values, "extra": extra},
                     {"reg": lib.layers.Dense(1, name="reg")(hidden),
                      "cls": lib.layers.Dense(3, activation="softmax", name="cls")(hidden)})


def test_dict_inputs_and_outputs_fit_and_predict_as_in_keras(backend):
    """Inputs and targets by name, and predict returning a dict by output name, as Keras."""
    keras, *models = keras_twins(_dict_model)
    x = {"values": _X, "extra": _Y[:, :1].repeat(3, axis=1)}
    results = []
    for lib, model in zip((keras, engine), models):
        model.compile(optimizer=lib.optimizers.SGD(0.1), metrics={"cls": ["accuracy"]},
                      loss={"reg": "mse", "cls": "sparse_categorical_crossentropy"})
        history = model.fit(x, {"reg": _Y[:, :1], "cls": _LABELS}, batch_size=8, epochs=2,
                            shuffle=False, verbose=0).history
        results.append((history, model.predict(x, verbose=0), model.predict_on_batch(x)))
    (theirs, their_predictions, _), (ours, predictions, on_batch) = results
    for key, values in theirs.items():
        np.testing.assert_allclose(ours[key], values, rtol=1e-5, err_msg=key)
    assert isinstance(predictions, dict) and sorted(predictions) == ["cls", "reg"]
    for name, want in their_predictions.items():
        np.testing.assert_allclose(predictions[name], np.asarray(want), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(on_batch[name], predictions[name], rtol=1e-6)


def test_model_input_and_output_build_a_feature_extractor(backend):
    """Keras's transfer-learning idiom: Model(base.input, base.get_layer(name).output)."""
    layers.clear_session()
    base = engine.Sequential([layers.Input((4,)), layers.Dense(3, activation="tanh", name="h"),
                              layers.Dense(2, name="out")])
    x = random_array((5, 4))
    assert base.input.shape == (None, 4) and base.output.shape == (None, 2)
    features = engine.Model(base.input, base.get_layer("h").output)
    kernel, bias = base.get_layer("h").get_weights()
    np.testing.assert_allclose(features.predict(x, verbose=0), np.tanh(x @ kernel + bias),
                               rtol=1e-5, atol=1e-6)
    two = engine.Model(features.input, [features.output, base.output])
    assert isinstance(two.output, list) and len(two.output) == 2
    with pytest.raises(ValueError, match="has no defined input yet"):
        engine.Sequential([layers.Dense(2)]).input


def test_to_json_model_from_json_and_clone_model_rebuild_the_architecture():
    layers.clear_session()
    model = _two_heads(engine)
    for rebuilt in (engine.models.model_from_json(model.to_json()),
                    engine.models.clone_model(model)):
        assert rebuilt.get_config() == model.get_config()
        assert [w.shape for w in rebuilt.get_weights()] == [w.shape for w in model.get_weights()]
        assert not all(np.array_equal(a, b) for a, b in
                       zip(rebuilt.get_weights(), model.get_weights()))  # fresh weights
    assert json.loads(model.to_json())["class_name"] == "Functional"


def test_model_json_moves_both_ways_with_keras():
    keras = keras_or_skip()
    theirs = _two_heads(keras)
    ours = engine.models.model_from_json(theirs.to_json())
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    back = keras.models.model_from_json(ours.to_json())
    back.set_weights(ours.get_weights())
    for got, want in zip(back.predict(_X, verbose=0), ours.predict(_X, verbose=0)):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


def test_fit_accepts_a_dataset_and_validation_data(backend):
    from engine.data import Dataset

    engine.set_seed(2)
    x, y = regression_data(48)
    model = engine.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer=engine.optimizers.SGD(0.2), loss="mse")
    history = model.fit(Dataset.from_tensor_slices((x, y)).batch(16), epochs=5, verbose=0,
                        validation_data=(x[:8], y[:8]))
    assert set(history.history) == {"loss", "val_loss"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    assert len(history.history["val_loss"]) == 2
    weights = np.linspace(0.5, 2.0, 48).astype(np.float32)
    history = model.fit(x, y, validation_split=0.25, sample_weight=weights, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"][0],
                               model.evaluate(x[36:], y[36:], sample_weight=weights[36:],
                                              verbose=0), rtol=1e-5)


def test_callbacks_see_every_hook_and_can_stop_training():
    class Recorder(engine.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(("epoch", epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

        def on_train_batch_end(self, batch, logs=None):
            self.calls.append(("batch", batch))

        def on_predict_batch_end(self, batch, logs=None):
            self.calls.append(("predict", batch))

    x, y = regression_data(20)
    model = engine.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    recorder = Recorder()
    history = model.fit(x, y, batch_size=10, epochs=5, verbose=0, callbacks=[recorder],
                        validation_data=(x, y))
    assert history.epoch == [0, 1]
    assert recorder.calls == [("batch", 0), ("batch", 1), ("epoch", 0, ["loss", "val_loss"]),
                              ("batch", 0), ("batch", 1), ("epoch", 1, ["loss", "val_loss"])]
    model.predict(x, batch_size=8, verbose=0, callbacks=[recorder])
    assert recorder.calls[-3:] == [("predict", 0), ("predict", 1), ("predict", 2)]


# ---------------------------------------------------------------------------- summary

def test_summary_counts_match_formulas():
    layers.clear_session()
    model = engine.Sequential([layers.Input((8, 8, 3)), layers.Conv2D(4, 3, name="conv"),
                               layers.BatchNormalization(name="bn"), layers.Flatten(),
                               layers.Dense(2, name="fc")])
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    conv, bn, fc = 3 * 3 * 3 * 4 + 4, 4 * 4, 6 * 6 * 4 * 2 + 2
    assert 'Model: "sequential"' in text
    assert "conv (Conv2D)" in text and "(None, 6, 6, 4)" in text and f" {conv}" in text
    assert "fc (Dense)" in text and "(None, 2)" in text and f" {fc}" in text
    assert f"Total params: {conv + bn + fc:,} ({(conv + bn + fc) * 4 / 1024:.2f} KB)" in text
    assert f"Trainable params: {conv + 8 + fc:,}" in text
    assert "Non-trainable params: 8 (32.00 B)" in text

    inputs = layers.Input((5,))
    lstm = layers.LSTM(3, return_sequences=False)(layers.Embedding(10, 4)(inputs))
    functional = engine.Model(inputs, layers.Dense(1)(lstm))
    lines = []
    functional.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "embedding[0][0]" in text
    assert f"Total params: {10 * 4 + 4 * (3 * (4 + 3) + 3) + 3 + 1:,}" in text


# ---------------------------------------------------------------------------- errors

def test_wrong_input_shape_fails_before_training_and_changes_nothing(backend):
    model = engine.Sequential([layers.Input((4,)), layers.BatchNormalization(),
                               layers.Dense(2, name="dense")])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"expected shape=\(None, 4\), found shape=\(2, 3\)"):
        model.fit(np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32), verbose=0)
    assert_weights_equal(before, model.get_weights())
    dense = model.get_layer("dense")
    with pytest.raises(ValueError, match=r"Input 0 of layer 'dense' is incompatible with the "
                                         r"layer: expected axis -1 of input shape to have value "
                                         r"4, but received input with shape \(2, 3\)"):
        dense(np.zeros((2, 3), np.float32))


def test_mismatched_lengths_and_bad_labels_change_nothing(backend):
    model = engine.Sequential([layers.Input((3,)), layers.BatchNormalization(),
                               layers.Dense(4, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.get_weights()
    x = random_array((5, 3))
    with pytest.raises(ValueError, match="(?s)Data cardinality is ambiguous.*'x' sizes: 5\n'y' "
                                         "sizes: 4"):
        model.fit(x, np.zeros(4, np.int32), verbose=0)
    with pytest.raises(ValueError, match=r"label value of 4 which is outside the valid range "
                                         r"of \[0, 4\)"):
        model.fit(x, np.array([0, 1, 2, 3, 4]), verbose=0)
    with pytest.raises(ValueError, match="label value of -1"):
        model.train_on_batch(x, np.array([0, 1, -1, 3, 2]))
    assert_weights_equal(before, model.get_weights())
    assert int(model.optimizer.iterations.item()) == 0


def test_train_on_batch_checks_every_new_label_tensor(backend):
    # Labels already checked are not read back each step; a new tensor or a changed Variable
    # is checked again.
    model = engine.Sequential([layers.Input((3,)), layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = engine.tensor(random_array((3, 3)))
    good = engine.tensor(np.array([0, 3, 1], np.int32))
    model.train_on_batch(x, good)
    model.train_on_batch(x, good)
    with pytest.raises(ValueError, match="label value of 4"):
        model.train_on_batch(x, engine.tensor(np.array([0, 4, 1], np.int32)))
    labels = engine.Variable(np.array([0, 3, 1], np.int32), trainable=False)
    model.train_on_batch(x, labels)
    before = model.get_weights()
    labels.assign(np.array([0, 3, 9], np.int32))
    with pytest.raises(ValueError, match="label value of 9"):
        model.train_on_batch(x, labels)
    assert_weights_equal(before, model.get_weights())


def test_failing_loss_leaves_batch_norm_statistics_unchanged(backend):
    model = engine.Sequential([layers.Input((3,)), layers.BatchNormalization(),
                               layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    with pytest.raises(ValueError, match="shape"):
        model.train_on_batch(random_array((4, 3)), np.zeros((4, 5), np.float32))
    assert_weights_equal(before, model.get_weights())


def test_unknown_names_and_missing_compile():
    with pytest.raises(ValueError, match="Unknown activation"):
        layers.Dense(2, activation="relu7")
    with pytest.raises(ValueError, match="Unknown initializer"):
        layers.Dense(2, kernel_initializer="glorot")
    model = engine.Sequential([layers.Input((3,)), layers.Dense(1)])
    with pytest.raises(RuntimeError, match="must call `compile\\(\\)`"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="No such layer: nope"):
        model.get_layer("nope")


# ---------------------------------------------------------------------------- configs

def test_model_configs_round_trip_with_weights(backend):
    sequential = engine.Sequential([layers.Input((6, 6, 2)), layers.Conv2D(3, 3),
                                    layers.BatchNormalization(), layers.GlobalMaxPooling2D(),
                                    layers.Dense(2)])
    a = layers.Input((4,))
    b = layers.Input((4,))
    shared = layers.Dense(3)
    functional = engine.Model([a, b], layers.Concatenate()([shared(a), shared(b)]))
    for model, inputs in [(sequential, random_array((2, 6, 6, 2))),
                          (functional, [random_array((2, 4)), random_array((2, 4), 1)])]:
        config = json.loads(json.dumps(layers.serialize(model)))
        rebuilt = layers.deserialize(config)
        assert layers.serialize(rebuilt)["config"]["layers"] == config["config"]["layers"]
        rebuilt.set_weights(model.get_weights())
        np.testing.assert_allclose(rebuilt.predict(inputs), model.predict(inputs), rtol=1e-6)


# ---------------------------------------------------------------------------- Keras

def conv_stack(lib):
    L = lib.layers
    return lib.Sequential([
        L.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same", activation="relu"),
        L.BatchNormalization(), L.MaxPooling2D(), L.DepthwiseConv2D(3, depth_multiplier=2,
                                                                   padding="same"),
        L.SeparableConv2D(5, 3, activation="elu"), L.Conv2DTranspose(3, 3, strides=2),
        L.ZeroPadding2D(1), L.AveragePooling2D(2), L.UpSampling2D(), L.GlobalAveragePooling2D(),
        L.Dense(3, activation="softmax")])


def recurrent_stack(lib, reset_after):
    L = lib.layers
    return lib.Sequential([
        L.Input((6,)), L.Embedding(12, 4), L.LSTM(5, return_sequences=True),
        L.GRU(4, reset_after=reset_after, return_sequences=True), L.SimpleRNN(3),
        L.Dense(2, activation="sigmoid")])


def functional_graph(lib):
    L = lib.layers
    a, b = L.Input((5,)), L.Input((5,))
    shared = L.Dense(5, activation="gelu")
    merged = L.Add()([shared(a), shared(b), a])
    normed = L.LayerNormalization()(merged)
    out1 = L.Dense(2)(L.Concatenate()([normed, b]))
    out2 = L.Dense(1, activation="tanh")(L.Multiply()([normed, L.Subtract()([a, b])]))
    return lib.Model([a, b], [out1, out2])


KERAS_CASES = {
    "conv": (conv_stack, lambda rng: rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32)),
    "lstm_gru_reset_after": (lambda lib: recurrent_stack(lib, True),
                             lambda rng: rng.integers(0, 12, (3, 6))),
    "lstm_gru_reset_before": (lambda lib: recurrent_stack(lib, False),
                              lambda rng: rng.integers(0, 12, (3, 6))),
    "functional": (functional_graph,
                   lambda rng: [rng.uniform(-1, 1, (4, 5)).astype(np.float32) for _ in "ab"]),
}
_KERAS_RESULTS = {}


def keras_reference(case):
    """(weights, inputs, Keras outputs) for a case: random weights (positive moving
    variances) set on the Keras model, which then predicts. Computed once per case."""
    if case not in _KERAS_RESULTS:
        keras = keras_or_skip()
        build, make_inputs = KERAS_CASES[case]
        keras_model = build(keras)
        rng = np.random.default_rng(0)
        weights = [(rng.uniform(0.5, 1.5, w.shape) if "moving_variance" in w.path
                    else rng.uniform(-0.5, 0.5, w.shape)).astype(np.float32)
                   for w in keras_model.weights]
        keras_model.set_weights(weights)
        inputs = make_inputs(rng)
        outputs = keras_model.predict(inputs, verbose=0)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        _KERAS_RESULTS[case] = weights, inputs, outputs
    return _KERAS_RESULTS[case]


@pytest.mark.parametrize("case", sorted(KERAS_CASES))
def test_predictions_match_keras_with_the_same_weights(backend, case):
    """Same architecture, same weights in Keras's order: the same predictions."""
    weights, inputs, want = keras_reference(case)
    model = KERAS_CASES[case][0](engine)
    model.set_weights(weights)
    got = model.predict(inputs)
    for got_output, want_output in zip(got if isinstance(got, list) else [got], want):
        np.testing.assert_allclose(got_output, want_output, **TOLERANCES["conv"])


def test_compile_takes_keras_3_arguments():
    """Keras 3's signature: loss_weights third; run_eagerly, steps_per_execution, jit_compile
    and auto_scale_loss accepted (this engine is always eager); metric names where loss weights
    go are refused with the reason."""
    model = engine.Sequential([layers.Input((3,)), layers.Dense(1)])
    model.compile("sgd", "mse", [2.0], ["mae"], run_eagerly=True, steps_per_execution=4,
                  jit_compile=False, auto_scale_loss=False)
    x, y = regression_data(8)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logs) == ["loss", "mae"]
    residual = model.predict(x, verbose=0) - y
    assert logs["loss"] == pytest.approx(2.0 * np.mean(residual ** 2), rel=1e-5)
    with pytest.raises(ValueError, match="`loss_weights` must be numbers .* pass metrics as"):
        model.compile("sgd", "mse", ["mae"])
    with pytest.warns(UserWarning, match="jit_compile=True"):
        model.compile("sgd", "mse", jit_compile=True)
    with pytest.raises(ValueError, match="`steps_per_execution` must be a positive integer"):
        model.compile("sgd", "mse", steps_per_execution=0)


# ------------------------------------------------------ custom train_step / test_step (Keras 3)

def _two_input_net(lib_model=None):
    """A functional net as a Model subclass given (inputs, outputs), Keras's pattern for a
    model with its own steps."""
    cls = lib_model or engine.Model
    values = layers.Input((3,))
    hidden = layers.Dense(4, activation="tanh", kernel_initializer=_fixed_values)(values)
    return cls(values, layers.Dense(1, kernel_initializer=_fixed_values)(hidden))


class _KerasGuideModel(engine.Model):
    """The train_step of Keras's "Customizing what happens in fit()" guide, written with
    engine.GradientTape: compute_loss, optimizer.apply, and every metric in self.metrics."""

    def train_step(self, data):
        x, y = data
        with engine.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(gradients, self.trainable_variables)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def test_custom_train_step_of_the_keras_guide_trains_like_the_default_step():
    """One batch per epoch: the guide's step (loss tracked once per step) must give the
    default step's history, and its weights. CustomModel(inputs, outputs) is functional."""
    x, y = regression_data(16)
    results = []
    for cls in (engine.Model, _KerasGuideModel):
        layers.clear_session()
        model = _two_input_net(cls)
        assert isinstance(model, cls) and model.layers[-1].name.startswith("dense")
        model.compile(optimizer=engine.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
        history = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
        results.append((history, model.get_weights()))
    (want, want_weights), (got, got_weights) = results
    assert sorted(got) == sorted(want) == ["loss", "mae"]
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-6)
    for a, b in zip(got_weights, want_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_own_metrics_and_no_targets_as_in_keras_custom_steps():
    """A model with its own loss and metric attributes (tracked into self.metrics), fit
    without y (the autoencoder/VAE pattern), a custom test_step for evaluate, and
    super().train_step from an override."""
    class AutoEncoder(engine.Model):
        def __init__(self):
            super().__init__()
            self.encode = layers.Dense(2, kernel_initializer=_fixed_values)
            self.decode = layers.Dense(3, kernel_initializer=_fixed_values)
            self.loss_tracker = engine.metrics.Mean(name="reconstruction")

        def call(self, x):
            return self.decode(self.encode(x))

        def _error(self, x):
            return engine.mean(engine.square(self(x, training=True) - x))

        def train_step(self, data):
            with engine.GradientTape() as tape:
                loss = self._error(data)
            self.optimizer.apply_gradients(zip(tape.gradient(loss, self.trainable_weights),
                                               self.trainable_weights))
            self.loss_tracker.update_state(loss)
            return {"reconstruction": self.loss_tracker.result()}

        def test_step(self, data):
            self.loss_tracker.update_state(self._error(data))
            return {"reconstruction": self.loss_tracker.result()}

    x, _ = regression_data(32)
    model = AutoEncoder()
    model.compile(optimizer=engine.optimizers.SGD(0.1))
    assert [metric.name for metric in model.metrics] == ["loss", "reconstruction"]  # Keras's
    history = model.fit(x, batch_size=8, epochs=3, verbose=0).history["reconstruction"]
    assert history[-1] < history[0]
    error = float(np.mean((model.predict(x, verbose=0) - x) ** 2))
    assert model.evaluate(x, verbose=0) == pytest.approx(error, rel=1e-5)

    class Logged(engine.Model):
        def train_step(self, data):
            logs = super().train_step(data)
            return {**logs, "doubled": 2 * logs["loss"]}

    layers.clear_session()
    model = _two_input_net(Logged)
    model.compile(optimizer="sgd", loss="mse")
    x, y = regression_data(8)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert logs["doubled"] == pytest.approx(2 * logs["loss"])
    plain = _two_input_net()
    plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="need targets"):  # the default step needs y
        plain.fit(x, verbose=0)


def _with_added_loss(lib, shared=False):
    """A layer adding a loss of its input in call (Keras's add_loss) and a Dense with an
    activity regularizer (Keras 3 divides it by the batch size)."""
    total = lib.ops.sum if lib is not engine else engine.sum

    class Penalized(lib.layers.Layer):
        def call(self, x):
            self.add_loss(0.01 * total(x * x))
            return x

    values = lib.layers.Input((3,))
    penalized = Penalized()
    hidden = lib.layers.Dense(3, kernel_initializer=_fixed_values,
                              activity_regularizer="l2")(penalized(values))
    hidden = penalized(hidden) if shared else hidden
    return lib.Model(values, lib.layers.Dense(1, kernel_initializer=_fixed_values)(hidden))


def test_add_loss_and_activity_losses_train_as_in_keras():
    keras = keras_or_skip()
    x, y = regression_data(4)
    theirs, ours = _with_added_loss(keras), _with_added_loss(engine)
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    ours.compile(optimizer=engine.optimizers.SGD(0.05), loss="mse")
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(
        float(theirs.evaluate(x, y, verbose=0)), rel=1e-5)
    want = theirs.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
    got = ours.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # A layer called twice adds a loss per call, as Keras's eager losses list them (its
    # compiled JAX evaluate keeps only the last call's).
    theirs, ours = _with_added_loss(keras, shared=True), _with_added_loss(engine, shared=True)
    theirs(x), ours(x)
    np.testing.assert_allclose(sorted(float(v.numpy()) for v in ours.losses),
                               sorted(float(v) for v in theirs.losses), rtol=1e-5)
    assert len(ours.losses) == 3


def test_summary_takes_keras_options():
    """expand_nested lists a nested model's layers under it, show_trainable adds a Y/N
    column, layer_range keeps the named span; an unknown name is refused."""
    base = engine.Sequential([layers.Input((4,)), layers.Dense(3, name="d1"),
                              layers.Dense(2, name="d2")], name="base")
    base.get_layer("d1").trainable = False
    values = layers.Input((4,), name="x")
    model = engine.Model(values, layers.Dense(1, name="head")(base(values)))
    lines = []
    model.summary(print_fn=lines.append, expand_nested=True, show_trainable=True)
    rows = {line.split()[0]: line for line in lines if line.split() and line.split()[0] in
            ("x", "base", "d1", "d2", "head")}
    assert list(rows) == ["x", "base", "d1", "d2", "head"]
    assert rows["d1"].rstrip().endswith("N") and rows["head"].rstrip().endswith("Y")
    assert lines[2].split()[-1] == "Trainable"  # (the header row)
    lines = []
    model.summary(print_fn=lines.append, layer_range=["base", "head"])
    assert [line.split()[0] for line in lines if line.split() and line.split()[0] in
            ("x", "base", "d1", "head")] == ["base", "head"]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.summary(layer_range=["x", "nope"])
