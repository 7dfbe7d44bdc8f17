"""matmul: NumPy's matmul rules, batch broadcasting, transposes, gradients and errors."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from tests.helpers import check_forward, check_gradients, no_kernel_runs, random_array

SHAPES = [
    ((2, 3), (3, 4)),
    ((1, 1), (1, 1)),
    ((3,), (3, 5)),             # vector on the left
    ((4, 3), (3,)),             # vector on the right
    ((5,), (5,)),               # dot product
    ((2, 5, 3), (3, 4)),        # batched against a matrix: the Dense layer case
    ((3,), (2, 3, 4)),          # vector against a batch
    ((2, 3), (2, 3, 4)),        # matrix against a batch
    ((2, 5, 3), (2, 3, 4)),
    ((2, 1, 5, 3), (4, 3, 2)),  # batch broadcasting on both sides
    ((1, 5, 3), (6, 3, 2)),
    ((0, 3), (3, 2)),           # no rows
    ((2, 0), (0, 3)),           # empty inner dimension: zeros
    ((7, 9), (9, 11)),
]


def reference_matmul(x, y):
    """NumPy's matmul rules written out: promote vectors, einsum over broadcast batches."""
    out = np.einsum("...ik,...kj->...ij", x[None, :] if x.ndim == 1 else x,
                    y[:, None] if y.ndim == 1 else y)
    if x.ndim == 1:
        out = out[..., 0, :]
    return out[..., 0] if y.ndim == 1 else out


def _transposed(array, flag):
    return np.swapaxes(array, -1, -2) if flag and array.ndim > 1 else array


@pytest.mark.parametrize("shape_a, shape_b", SHAPES, ids=str)
def test_matmul_matches_numpy_rules(backend, shape_a, shape_b):
    a, b = random_array(shape_a, seed=1), random_array(shape_b, seed=2)
    for transpose_a in (False, True):
        for transpose_b in (False, True):
            # The engine gets transposed (non-contiguous) arrays plus the flags.
            check_forward(lambda x, y: engine.matmul(x, y, transpose_a, transpose_b),
                          lambda x, y: reference_matmul(_transposed(x, transpose_a),
                                                        _transposed(y, transpose_b)),
                          [_transposed(a, transpose_a), _transposed(b, transpose_b)], "matmul")


def test_matmul_operator_and_integers(backend):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    out = engine.tensor(a) @ engine.tensor(b)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), reference_matmul(a, b))


def test_matmul_promotes_mixed_dtypes(backend):
    out = engine.matmul(engine.tensor([[1, 2]]), engine.tensor([[0.5], [0.25]]))
    assert out.dtype == "float32" and out.numpy()[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 4, 3), (3, 2)),
    ((2, 4, 3), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)), ((1, 2, 3), (4, 3, 2)), ((2, 3), (4, 3, 2)),
], ids=str)
def test_matmul_gradients_all_transposes(backend, shape_a, shape_b):
    a, b = random_array(shape_a, seed=3), random_array(shape_b, seed=4)
    for transpose_a in (False, True):
        for transpose_b in (False, True):
            check_gradients(lambda x, y: engine.matmul(x, y, transpose_a, transpose_b),
                            [_transposed(a, transpose_a), _transposed(b, transpose_b)], backend)


@st.composite
def _matmul_shapes(draw):
    m, k, n = (draw(st.integers(1, 5)) for _ in range(3))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    batch_a = tuple(d if draw(st.booleans()) else 1 for d in batch)
    batch_b = tuple(d if draw(st.booleans()) else 1 for d in batch)
    batch_b = batch_b[draw(st.integers(0, len(batch_b))):]  # ranks may differ
    shape_a = (k,) if draw(st.integers(0, 4)) == 0 else batch_a + (m, k)
    shape_b = (k,) if draw(st.integers(0, 4)) == 0 else batch_b + (k, n)
    return shape_a, shape_b, draw(st.booleans()), draw(st.booleans())


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # backend is fixed per test
@given(case=_matmul_shapes(), seed=st.integers(0, 1000))
def test_property_matmul_matches_numpy(backend, case, seed):
    shape_a, shape_b, transpose_a, transpose_b = case
    a, b = random_array(shape_a, seed=seed), random_array(shape_b, seed=seed + 1)
    check_forward(lambda x, y: engine.matmul(x, y, transpose_a, transpose_b),
                  lambda x, y: reference_matmul(_transposed(x, transpose_a),
                                                _transposed(y, transpose_b)),
                  [_transposed(a, transpose_a), _transposed(b, transpose_b)], "matmul")


@pytest.mark.parametrize("a, b, transpose_a, error, message", [
    ((2, 3), (4, 5), False, ValueError,
     r"^Error in matmul: inner shapes \(3\) and \(4\) of tensors with shapes \(2, 3\) and "
     r"\(4, 5\) must match$"),
    ((3, 2), (4, 5), True, ValueError,
     r"^Error in matmul: inner shapes \(3\) and \(4\) of tensors with shapes \(3, 2\) and "
     r"\(4, 5\) with transpose_a=True and transpose_b=False must match$"),
    ((4,), (5,), False, ValueError, r"Error in matmul: inner shapes \(4\) and \(5\)"),
    ((2, 2, 3), (3, 3, 4), False, ValueError,
     r"Error in matmul: batch dimensions \(2,\) and \(3,\) of tensors with shapes \(2, 2, 3\) "
     r"and \(3, 3, 4\) cannot be broadcast"),
    ((), (3,), False, ValueError, r"Error in matmul: inputs must have rank >= 1"),
], ids=str)
def test_matmul_errors_name_shapes_and_run_nothing(backend, a, b, transpose_a, error, message):
    x, y = engine.tensor(np.ones(a, np.float32)), engine.tensor(np.ones(b, np.float32))
    with pytest.raises(error, match=message), no_kernel_runs():
        engine.matmul(x, y, transpose_a=transpose_a)


def test_matmul_of_bool_is_refused(backend):
    flags = engine.tensor([[True, False]])
    with pytest.raises(TypeError, match="Error in matmul: expected numeric tensors"), \
            no_kernel_runs():
        engine.matmul(flags, flags)


STACKS = [(a, b) for a, b in SHAPES if min(len(a), len(b)) >= 2 and max(len(a), len(b)) > 2]


@pytest.mark.parametrize("shape_a, shape_b", STACKS + [((5, 2, 4, 3), (1, 3, 2)),
                                                       ((1, 4, 3), (7, 3, 5)),
                                                       ((3, 0, 2), (3, 2, 4))], ids=str)
def test_numpy_stacks_of_products_split_over_the_cores(monkeypatch, shape_a, shape_b):
    """Every stack of float products split over the cores (the threshold set to 0), operands
    broadcast along the split axis or not, transposed or not: the einsum reference."""
    from engine.kernels.numpy import linalg

    monkeypatch.setattr(linalg, "MIN_SPLIT_MACS", 0)
    kernel = engine.registry.get_kernel("BatchMatMul", "numpy")
    a, b = random_array(shape_a, seed=1), random_array(shape_b, seed=2)
    for transpose_a in (False, True):
        for transpose_b in (False, True):
            got = kernel(_transposed(a, transpose_a), _transposed(b, transpose_b), transpose_a,
                         transpose_b)
            np.testing.assert_allclose(got, reference_matmul(a, b), rtol=1e-5, atol=1e-5)
