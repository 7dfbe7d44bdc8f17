"""einsum: every equation form against numpy.einsum in float64 on every backend, gradients
against finite differences, random shapes, errors before any kernel, contraction by matmul; and
the EinsumDense layer against Keras's (weights, predictions, configs, saved files)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from tests.helpers import (check_forward, check_gradients, float64_supported, kernel_calls,
                           keras_or_skip, keras_twins, no_kernel_runs, random_array)

EQUATIONS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),                 # matrix product
    ("ij,jk", [(2, 3), (3, 4)]),                     # implicit output
    ("ab,cb->ac", [(2, 3), (4, 3)]),                 # transposed right operand
    ("ba,bc->ac", [(3, 2), (3, 4)]),                 # transposed left operand
    ("ba", [(2, 3)]),                                # implicit output: a transpose
    ("ij->ji", [(2, 3)]),
    ("ij->", [(2, 3)]),                              # sum of everything
    ("ij->j", [(2, 3)]),                             # sum over an index of one operand
    ("i->i", [(3,)]),
    ("...", [(2, 3)]),
    ("i,j->ij", [(3,), (4,)]),                       # outer product
    ("i,i->", [(5,)] * 2),                           # dot product
    ("ij,ij->ij", [(2, 3), (2, 3)]),                 # elementwise product
    ("ij,kl->", [(2, 3), (4, 5)]),                   # sums over indices of one operand each
    ("ij,jk->", [(2, 3), (3, 4)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),        # batch dimension
    ("bqhd,bkhd->bhqk", [(2, 3, 4, 5), (2, 6, 4, 5)]),  # attention scores
    ("bhqk,bkhd->bqhd", [(2, 4, 3, 6), (2, 6, 4, 5)]),
    ("abc,cde->abde", [(2, 3, 4), (4, 5, 6)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),      # three operands
    ("a,a,a->a", [(4,)] * 3),
    (",ij->ij", [(), (2, 3)]),                       # a scalar operand
    ("...ij,...jk", [(5, 1, 2, 3), (4, 3, 2)]),      # ellipsis: broadcast batch dimensions
    ("...ij,...jk->...ik", [(2, 3), (3, 4)]),        # ellipsis of rank 0
    ("i...,i...->...", [(2, 3), (2, 1)]),
    ("ab...,bc->ac...", [(2, 3, 4, 5), (3, 6)]),     # ellipsis on the right
    ("Ab,bC->AC", [(2, 3), (3, 4)]),                 # upper-case labels
    ("ii->i", [(3, 3)]),                             # diagonal
    ("ii", [(3, 3)]),                                # trace
    ("iij->j", [(2, 2, 4)]),
    ("iii->i", [(3, 3, 3)]),
    ("ij,jj->i", [(2, 3), (3, 3)]),
    ("ij,jk->ki", [(0, 3), (3, 2)]),                 # empty dimensions
    ("ij,jk->ik", [(2, 0), (0, 3)]),
]


def _arrays(shapes, seed=0):
    return [random_array(shape, seed=seed + i).astype(np.float64) for i, shape in
            enumerate(shapes)]


@pytest.mark.parametrize("equation, shapes", EQUATIONS, ids=[e for e, _ in EQUATIONS])
def test_einsum_matches_numpy(backend, equation, shapes):
    dtype = "float64" if float64_supported(backend) else "float32"
    check_forward(lambda *xs: engine.einsum(equation, *xs),
                  lambda *xs: np.einsum(equation, *xs), _arrays(shapes), "matmul", dtype=dtype)


@pytest.mark.parametrize("equation, shapes", [
    (e, s) for e, s in EQUATIONS if all(0 not in shape for shape in s)],
    ids=[e for e, s in EQUATIONS if all(0 not in shape for shape in s)])
def test_einsum_gradients(backend, equation, shapes):
    check_gradients(lambda *xs: engine.einsum(equation, *xs), _arrays(shapes, seed=3), backend)


def test_einsum_promotes_dtypes_and_takes_integers(backend):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    out = engine.einsum("ij,kj->ik", engine.tensor(a), engine.tensor(a))
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), np.einsum("ij,kj->ik", a, a))
    mixed = engine.einsum("ij,jk->ik", engine.tensor(a), engine.tensor(np.ones((3, 2),
                                                                               np.float32)))
    assert mixed.dtype == "float32"


def test_contractions_run_batch_matmul_and_nothing_elementwise_large(backend):
    a, b = engine.tensor(random_array((2, 3, 4))), engine.tensor(random_array((2, 4, 5)))
    with kernel_calls() as calls:
        engine.einsum("bij,bjk->bik", a, b)
    assert calls == ["BatchMatMul"]
    x, w = engine.tensor(random_array((2, 3, 4))), engine.tensor(random_array((4, 5, 6)))
    with kernel_calls() as calls:
        engine.einsum("abc,cde->abde", x, w)
    assert "BatchMatMul" in calls and "Mul" not in calls and "Sum" not in calls


@st.composite
def _family_case(draw):
    """An equation of one of a few families with random sizes (batch, free, summed axes)."""
    size = st.integers(1, 4)
    b, m, k, n = (draw(size) for _ in range(4))
    family = draw(st.sampled_from(["matmul", "batch", "ellipsis", "outer", "chain"]))
    if family == "matmul":
        return "ik,kj->ij", [(m, k), (k, n)]
    if family == "batch":
        return "bik,bjk->bji", [(b, m, k), (b, n, k)]
    if family == "ellipsis":
        lead = tuple(draw(st.lists(size, max_size=2)))
        short = tuple(d if draw(st.booleans()) else 1 for d in lead)[draw(st.integers(0, 2)):]
        return "...ik,...kj->...ij", [lead + (m, k), short + (k, n)]
    if family == "outer":
        return "i,jk->ikj", [(m,), (k, n)]
    return "ab,bc,cd->da", [(m, k), (k, n), (n, b)]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # backend is fixed per test
@given(case=_family_case(), seed=st.integers(0, 1000))
def test_property_einsum_matches_numpy(backend, case, seed):
    equation, shapes = case
    check_forward(lambda *xs: engine.einsum(equation, *xs),
                  lambda *xs: np.einsum(equation, *xs), _arrays(shapes, seed), "matmul")


@pytest.mark.parametrize("equation, shapes, message", [
    ("ij,jk->ik", [(2, 3), (4, 5)],
     r"^Error in einsum: label 'j' has size 3 in operand 0 but 4 in operand 1 \(equation "
     r"'ij,jk->ik', operand shapes \(2, 3\), \(4, 5\)\)$"),
    ("ij,jk->ik", [(2, 3)], r"the equation has 2 operand terms but 1 operands were given"),
    ("ij->ik", [(2, 3)], r"output label 'k' appears in no operand"),
    ("ij->ii", [(2, 2)], r"output label 'i' appears more than once"),
    ("i2,jk", [(2, 3), (3, 4)], r"term 'i2' has the character '2'"),
    ("ij->i->j", [(2, 3)], r"'->' appears more than once"),
    ("ijk", [(2, 3)], r"operand 0 has rank 2 but its term 'ijk' names 3 axes"),
    ("i", [(2, 3)], r"operand 0 has rank 2 but its term 'i' names 1 axes"),
    ("...i...", [(2, 3)], r"term '...i...' has more than one '...'"),
    ("...i->i", [(2, 3)], r"the operands have axes under '...' but the output has no '...'"),
    ("...i,...i", [(2, 3), (4, 3)], r"axes under '...' of sizes 2 and 4 cannot be broadcast"),
    ("ii->i", [(2, 3)], r"label 'i' has size 2 in operand 0 but 3 in operand 0"),
], ids=str)
def test_einsum_errors_name_equation_and_shapes_before_any_kernel(backend, equation, shapes,
                                                                  message):
    tensors = [engine.tensor(np.ones(shape, np.float32)) for shape in shapes]
    with pytest.raises(ValueError, match=message), no_kernel_runs():
        engine.einsum(equation, *tensors)


def test_einsum_refuses_bool_and_non_string_equations(backend):
    flags = engine.tensor([[True, False]])
    with pytest.raises(TypeError, match=r"Error in einsum: expected numeric tensors, got bool"), \
            no_kernel_runs():
        engine.einsum("ij,kj->ik", flags, flags)
    with pytest.raises(TypeError, match="Error in einsum: the equation must be a string"):
        engine.einsum(["ij"], flags)
    with pytest.raises(ValueError, match="Error in einsum: equation 'ij' needs at least one"):
        engine.einsum("ij")


# ---------------------------------------------------------------------------- EinsumDense

# (equation, output_shape, bias_axes, input shape without the batch axis)
DENSE_CASES = [
    ("ab,bc->ac", 4, "c", (3,)),
    ("ab,bc->ac", 4, None, (3,)),
    ("abc,cd->abd", (None, 4), "d", (5, 3)),
    ("abc,cde->abde", (None, 4, 2), "de", (5, 3)),
    ("abc,cde->abde", (5, 4, 2), "be", (5, 3)),
    ("abcd,cde->abe", (5, 4), "e", (5, 2, 3)),
    ("...b,bc->...c", 4, "c", (2, 5, 3)),
    ("abc...,bd->adc...", (4, 2), "d", (3, 2, 5)),
]


def _dense_model(lib, equation, output_shape, bias_axes, input_shape, activation=None):
    x = lib.layers.Input(input_shape)
    layer = lib.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes,
                                   activation=activation, name="einsum_dense")
    return lib.models.Model(x, layer(x))


@pytest.mark.parametrize("case", DENSE_CASES, ids=[str(c) for c in DENSE_CASES])
def test_einsum_dense_matches_keras(case):
    keras, theirs, ours = keras_twins(lambda lib: _dense_model(lib, *case, activation="tanh"),
                                      seed=2)
    layer, keras_layer = ours.get_layer("einsum_dense"), theirs.get_layer("einsum_dense")
    assert [w.shape for w in layer.weights] == [tuple(w.shape) for w in keras_layer.weights]
    assert [w.name.split("/")[-1] for w in layer.weights] == \
        [w.name.split("/")[-1] for w in keras_layer.weights]
    x = random_array((2,) + case[3], seed=4)
    expected = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    symbolic = ours.outputs[0].shape  # None where the output shape leaves a size unknown
    assert len(symbolic) == expected.ndim and all(
        size in (None, actual) for size, actual in zip(symbolic[1:], expected.shape[1:]))


def test_einsum_dense_kernel_fans_are_its_input_and_output_axes():
    layer = engine.layers.EinsumDense("abc,cde->abde", (None, 64, 32), bias_axes="e",
                                      kernel_initializer="he_uniform")
    layer.build((None, 7, 48))
    kernel = layer.kernel.numpy()
    assert kernel.shape == (48, 64, 32) and layer.bias.shape == (32,)
    limit = np.sqrt(6.0 / 48)  # he_uniform with fan_in 48 (the conv rule would say 48 * 64)
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.9 * limit


def test_einsum_dense_config_round_trips_with_keras_keys():
    keras = keras_or_skip()
    layer = engine.layers.EinsumDense("abc,cde->abde", (None, 4, 2), bias_axes="de",
                                      activation="relu", kernel_regularizer="l2",
                                      name="projection")
    config = layer.get_config()
    theirs = keras.layers.EinsumDense.from_config(config)
    assert set(config) == set(theirs.get_config())
    again = engine.layers.EinsumDense.from_config(config)
    for name in ("equation", "partial_output_shape", "bias_axes"):
        assert getattr(again, name) == getattr(theirs, name) == getattr(layer, name)
    assert again.get_config() == config


@pytest.mark.parametrize("kwargs, message", [
    (dict(equation="ab,bc", output_shape=4), r"Invalid einsum equation 'ab,bc'"),
    (dict(equation="ab,bc->ac", output_shape=4, lora_rank=2), r"`lora_rank` is not supported"),
])
def test_einsum_dense_refuses_what_it_cannot_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        engine.layers.EinsumDense(**kwargs)


def test_einsum_dense_build_errors_match_keras():
    layer = engine.layers.EinsumDense("ab,bc->ad", 4)
    with pytest.raises(ValueError, match="Dimension 'd' was specified in the output"):
        layer.build((None, 3))
    layer = engine.layers.EinsumDense("ab,bc->ac", 4, bias_axes="x")
    with pytest.raises(ValueError, match="Bias dimension 'x' was requested"):
        layer.build((None, 3))


def test_einsum_dense_trains_on_every_backend(backend):
    engine.layers.clear_session()
    model = _dense_model(engine, "abc,cd->abd", (None, 2), "d", (3, 4))
    x, y = random_array((4, 3, 4), seed=1), random_array((4, 3, 2), seed=2)
    model.compile(optimizer=engine.optimizers.SGD(0.1), loss="mse")
    first = model.train_on_batch(x, y)
    for _ in range(3):
        last = model.train_on_batch(x, y)
    assert last < first


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_einsum_dense_model_files_move_both_ways_with_keras(tmp_path, suffix):
    keras = keras_or_skip()
    engine.layers.clear_session()
    x = engine.layers.Input((5, 3))
    hidden = engine.layers.EinsumDense("abc,cde->abde", (None, 4, 2), bias_axes="de",
                                       activation="relu")(x)
    out = engine.layers.EinsumDense("abde,de->ab", (None,), bias_axes=None)(hidden)
    model = engine.models.Model(x, out)
    model.set_weights([random_array(w.shape, seed=i) for i, w in
                       enumerate(model.get_weights())])
    inputs = random_array((2, 5, 3), seed=9)
    model.compile(optimizer=engine.optimizers.Adam(0.01), loss="mse")
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded.predict(inputs, verbose=0)),
                               model.predict(inputs, verbose=0), rtol=1e-5, atol=1e-5)
    loaded.save(str(tmp_path / f"theirs{suffix}"))
    again = engine.models.load_model(str(tmp_path / f"theirs{suffix}"))
    np.testing.assert_allclose(again.predict(inputs, verbose=0),
                               model.predict(inputs, verbose=0), rtol=1e-6, atol=1e-6)


def test_einsum_dense_is_refused_for_tfjs(tmp_path):
    engine.layers.clear_session()
    model = _dense_model(engine, "ab,bc->ac", 4, "c", (3,))
    with pytest.raises(ValueError, match="'einsum_dense': TF.js has no EinsumDense layer"):
        model.save(str(tmp_path / "web"))
