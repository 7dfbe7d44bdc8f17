"""Operators on symbolic tensors in functional models (x * 2 + 1, 1 - x, x[:, :3], ...):
predictions and training equal Keras 3's, and the models move through .keras files both ways
as Keras writes them (operation nodes of keras.src.ops.numpy)."""
import numpy as np
import pytest

import engine
from tests.helpers import keras_or_skip, keras_twins, sgd_steps_like_keras


def _operators_model(lib):
    """Every operator, tensor-first and constant-first, on a small Dense network."""
    layers = lib.layers
    values = layers.Input((4,))
    hidden = layers.Dense(3)(values)
    mixed = (hidden * 2 + 1) - values[:, :3]
    mixed = 1 - mixed / 4.0 + 2.0 / (abs(hidden) + 1)
    mixed = -mixed + hidden ** 2 + (values[..., 1:] // 0.5) * 0.1 + (hidden % 0.7)
    mixed = mixed @ np.linspace(-1, 1, 6, dtype="float32").reshape(3, 2)
    return lib.Model(values, layers.Dense(1)(mixed[:, None, 0]))


def _inputs():
    rng = np.random.default_rng(0)
    return (rng.uniform(-1, 1, (5, 4)).astype("float32"),
            rng.uniform(-1, 1, (5, 1)).astype("float32"))


def test_operators_predict_and_train_as_keras():
    keras, theirs, ours = keras_twins(_operators_model, seed=0)
    x, y = _inputs()
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs.predict(
        x, verbose=0)), rtol=1e-5, atol=1e-6)
    sgd_steps_like_keras(keras, theirs, ours, x, y, 0.01)


def test_operator_models_move_through_keras_files_both_ways(tmp_path):
    keras, theirs, ours = keras_twins(_operators_model, seed=1)
    x, _ = _inputs()
    want = np.asarray(theirs.predict(x, verbose=0))
    ours.save(str(tmp_path / "ours.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "ours.keras"))
    np.testing.assert_allclose(np.asarray(loaded.predict(x, verbose=0)), want, rtol=1e-5,
                               atol=1e-6)
    theirs.save(str(tmp_path / "theirs.keras"))
    mine = engine.models.load_model(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(mine.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_operator_models_round_trip_here_and_are_refused_for_tfjs(tmp_path):
    engine.layers.clear_session()
    model = _operators_model(engine)
    x, _ = _inputs()
    want = model.predict(x, verbose=0)
    rebuilt = engine.models.model_from_json(model.to_json())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), want)
    for name in ("m.engine", "m.h5"):  # (Keras cannot read operations back from .h5 files,
        model.save(str(tmp_path / name))  # not even its own)
        np.testing.assert_array_equal(
            engine.models.load_model(str(tmp_path / name)).predict(x, verbose=0), want)
    with pytest.raises(ValueError, match=r"Layer '(multiply|get_item)\w*': TF.js \(and Keras "
                                         r"2\) files cannot hold an operation"):
        model.save(str(tmp_path / "web"))
    assert not (tmp_path / "web").exists()


def test_operations_are_keras_named_nodes_and_tensors_do_not_iterate():
    keras_or_skip()  # (names only; Keras itself is the reference)
    engine.layers.clear_session()
    values = engine.layers.Input((3,))
    doubled = 2 * values
    assert type(doubled.history[0]).__name__ == "Multiply"
    config = engine.Model(values, 1 - doubled).get_config()
    written = engine.models.model_from_json(engine.Model(values, 1 - doubled).to_json())
    assert [type(layer).__name__ for layer in written.layers][1:] == ["Multiply", "Subtract"]
    assert config["layers"][-1]["class_name"] == "Subtract"
    with pytest.raises(TypeError, match="cannot be iterated"):
        list(values)
