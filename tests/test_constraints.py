"""Weight constraints (MaxNorm, MinMaxNorm, NonNeg, UnitNorm): their formulas in float64,
the optimizer projecting each weight after its update as Keras does, and their configs in
files with real Keras and real TF.js."""
import numpy as np
import pytest

import engine
from engine import constraints, layers
from tests.helpers import keras_twins, predicted_by_tfjs, random_array, sgd_steps_like_keras


def _norms(w, axis):
    return np.sqrt(np.sum(w * w, axis=axis, keepdims=True))


@pytest.mark.parametrize("constraint, formula", [
    (constraints.MaxNorm(0.5), lambda w: w * np.clip(_norms(w, 0), 0, 0.5)
     / (1e-7 + _norms(w, 0))),
    (constraints.MaxNorm(1.0, axis=[0, 1]), lambda w: w * np.clip(_norms(w, (0, 1)), 0, 1.0)
     / (1e-7 + _norms(w, (0, 1)))),
    (constraints.MinMaxNorm(0.8, 1.2, rate=0.5, axis=1), lambda w: w * (
        0.5 * np.clip(_norms(w, 1), 0.8, 1.2) + 0.5 * _norms(w, 1)) / (1e-7 + _norms(w, 1))),
    (constraints.NonNeg(), lambda w: np.maximum(w, 0)),
    (constraints.UnitNorm(axis=-1), lambda w: w / (1e-7 + _norms(w, -1))),
])
def test_constraints_follow_keras_formulas(backend, constraint, formula):
    w = random_array((3, 4, 2), low=-2, high=2)
    got = constraint(engine.tensor(w)).numpy()
    np.testing.assert_allclose(got, formula(w.astype(np.float64)), rtol=1e-5, atol=1e-6)
    rebuilt = constraints.get(constraints.serialize(constraint))
    assert type(rebuilt) is type(constraint) and rebuilt.get_config() == constraint.get_config()


def test_names_and_bad_identifiers():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert isinstance(constraints.get("NonNeg"), constraints.NonNeg)
    with pytest.raises(ValueError, match="Unknown constraint: 'tight'"):
        constraints.get("tight")
    with pytest.raises(ValueError, match="Unknown constraint: 'Tight'"):
        layers.Dense(2, kernel_constraint={"class_name": "Tight", "config": {}})


def _constrained(lib, rate=0.7):
    """A model whose weights carry each constraint (Keras names them the same)."""
    lib_constraints = lib.constraints
    values = lib.layers.Input((4,))
    hidden = lib.layers.Dense(6, activation="tanh",
                              kernel_constraint=lib_constraints.MaxNorm(0.6),
                              bias_constraint=lib_constraints.NonNeg())(values)
    hidden = lib.layers.LayerNormalization(gamma_constraint=lib_constraints.UnitNorm(0))(hidden)
    return lib.Model(values, lib.layers.Dense(
        2, kernel_constraint=lib_constraints.MinMaxNorm(0.2, 0.9, rate=rate))(hidden))


def test_training_projects_weights_as_keras_does():
    keras, theirs, ours = keras_twins(_constrained, seed=3)
    x = random_array((8, 4), 1)
    y = random_array((8, 2), 2)
    before = sgd_steps_like_keras(keras, theirs, ours, x, y, 0.5, steps=3)
    kernel = ours.layers[1].kernel.numpy()
    assert np.all(_norms(kernel, 0) <= 0.6 + 1e-5) and not np.allclose(kernel, before[0])
    assert np.all(ours.layers[1].bias.numpy() >= 0)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_constraints_move_through_keras_files(tmp_path, suffix):
    keras, theirs, ours = keras_twins(_constrained, seed=4)
    ours.save(str(tmp_path / f"ours{suffix}"))
    loaded = keras.saving.load_model(str(tmp_path / f"ours{suffix}"))
    assert type(loaded.layers[1].kernel_constraint).__name__ == "MaxNorm"
    assert loaded.layers[1].kernel_constraint.max_value == 0.6
    theirs.save(str(tmp_path / f"theirs{suffix}"))
    mine = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    assert isinstance(mine.layers[-1].kernel_constraint, constraints.MinMaxNorm)
    assert mine.layers[-1].kernel_constraint.get_config() == {
        "min_value": 0.2, "max_value": 0.9, "rate": 0.7, "axis": 0}


def test_tfjs_loads_models_with_constraints(tmp_path):
    """TF.js projects weights through their constraints as it loads them (LayerVariable.write
    applies them): weights already projected come back the same (for constraints that are
    projections: MinMaxNorm with rate 1), so do the predictions."""
    engine.layers.clear_session()
    model = _constrained(engine, rate=1.0)
    for weight in model.weights:
        if weight.constraint is not None:
            weight.assign(weight.constraint(weight))
    x = random_array((3, 4), 5)
    model.save(str(tmp_path / "constrained"))
    got = predicted_by_tfjs({"constrained": (tmp_path / "constrained", x)})["constrained"]
    np.testing.assert_allclose(got, model.predict(x, verbose=0).ravel(), rtol=1e-5, atol=1e-5)
    back = engine.models.load_model(str(tmp_path / "constrained"))
    assert isinstance(back.layers[1].kernel_constraint, constraints.MaxNorm)


def _constrained_convolutions(lib):
    lib_constraints = lib.constraints
    images = lib.layers.Input((6, 6, 2))
    hidden = lib.layers.Conv2D(3, 3, kernel_constraint=lib_constraints.MaxNorm(0.5, [0, 1, 2]),
                               bias_constraint=lib_constraints.NonNeg())(images)
    hidden = lib.layers.DepthwiseConv2D(
        2, depthwise_constraint=lib_constraints.UnitNorm([0, 1]))(hidden)
    hidden = lib.layers.SeparableConv2D(
        2, 2, depthwise_constraint=lib_constraints.MaxNorm(0.4),
        pointwise_constraint=lib_constraints.NonNeg())(hidden)
    return lib.Model(images, lib.layers.Dense(1)(lib.layers.Flatten()(hidden)))


def test_convolution_constraints_train_as_keras():
    keras, theirs, ours = keras_twins(_constrained_convolutions, seed=6)
    x = random_array((4, 6, 6, 2), 7)
    y = random_array((4, 1), 8)
    sgd_steps_like_keras(keras, theirs, ours, x, y, 0.3, steps=3)
    rebuilt = engine.models.model_from_json(ours.to_json()).layers[2].get_config()
    assert rebuilt["depthwise_constraint"] == {"class_name": "UnitNorm",
                                               "config": {"axis": [0, 1]}}
