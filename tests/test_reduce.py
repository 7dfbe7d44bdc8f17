"""Reductions: forward against float64 NumPy, gradients against finite differences, errors."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import engine
from tests.helpers import (TOLERANCES, check_forward, check_gradients, no_kernel_runs,
                           random_array)

AXES = [None, -1, 1, 0, (0, 1), (0, 2), (-1, 0), ()]

REDUCTIONS = {
    "sum": (engine.sum, np.sum),
    "mean": (engine.mean, np.mean),
    "prod": (engine.prod, np.prod),
    "max": (engine.max, np.max),
    "min": (engine.min, np.min),
}


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_matches_numpy(backend, name, axis):
    op, reference = REDUCTIONS[name]
    x = random_array((2, 3, 5), low=0.5, high=1.5)
    for keepdims in (False, True):
        check_forward(lambda t: op(t, axis, keepdims),
                      lambda a: reference(a, axis=axis, keepdims=keepdims), [x], "reduction")


@pytest.mark.parametrize("keepdims", [False, True])
def test_sum_over_many_leading_rows(backend, keepdims):
    """A bias gradient's shape: many rows (leading axes) summed into a few channels."""
    x = random_array((64, 26, 26, 8), low=-1.0, high=1.0)
    check_forward(lambda t: engine.sum(t, (0, 1, 2), keepdims),
                  lambda a: np.sum(a, axis=(0, 1, 2), keepdims=keepdims), [x], "reduction")


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_transposed_input_and_size_one_dims(backend, name):
    op, reference = REDUCTIONS[name]
    x = random_array((7, 1, 3), low=0.5, high=1.5).transpose(2, 1, 0)
    check_forward(lambda t: op(t, (0, 1)), lambda a: reference(a, axis=(0, 1)), [x],
                  "reduction")


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_a_scalar_reduces_nothing(backend, name):
    op, _ = REDUCTIONS[name]
    for axis in (None, 0, -1):
        out = op(engine.tensor(2.5), axis)
        assert out.shape == () and out.item() == 2.5


def test_empty_reductions_give_the_identity(backend):
    x = engine.zeros((0, 3))
    np.testing.assert_array_equal(engine.sum(x, 0).numpy(), np.zeros(3))
    np.testing.assert_array_equal(engine.prod(x, 0).numpy(), np.ones(3))
    assert np.isnan(engine.mean(x, 0).numpy()).all()
    assert engine.sum(x, 1).shape == (0,)


def test_integer_and_bool_sums_follow_tfjs(backend):
    ints = np.array([[3, -7, 2], [5, 1, -4]], dtype=np.int32)
    out = engine.sum(engine.tensor(ints), 1)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), [-2, 2])
    flags = engine.tensor([[True, False, True], [True, True, True]])
    counted = engine.sum(flags, -1)
    assert counted.dtype == "int32"
    np.testing.assert_array_equal(counted.numpy(), [2, 3])
    assert engine.prod(engine.tensor(ints), None).dtype == "int32"
    mean = engine.mean(engine.tensor(ints))
    assert mean.dtype == "float32" and mean.item() == pytest.approx(0.0)


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 1)], ids=str)
def test_all_and_any(backend, axis):
    flags = np.array([[True, False, True], [True, True, True]])
    for op, reference in ((engine.all, np.all), (engine.any, np.any)):
        for keepdims in (False, True):
            out = op(engine.tensor(flags), axis, keepdims)
            assert out.dtype == "bool"
            np.testing.assert_array_equal(out.numpy(), reference(flags, axis, keepdims=keepdims))


def test_argmax_argmin_pick_the_first_of_ties(backend):
    x = np.array([[1.0, 3.0, 3.0, -2.0], [2.0, 2.0, -5.0, -5.0], [0.5, 0.25, 0.5, 0.25]],
                 dtype=np.float32)
    for axis in (0, 1, -1):
        got_max, got_min = engine.argmax(x, axis), engine.argmin(x, axis)
        assert got_max.dtype == got_min.dtype == "int32"
        np.testing.assert_array_equal(got_max.numpy(), _first_index(x, axis, np.max))
        np.testing.assert_array_equal(got_min.numpy(), _first_index(x, axis, np.min))


def _first_index(x, axis, extremum):
    """Independent reference: the smallest index holding the extremum."""
    moved = np.moveaxis(x, axis, -1)
    hits = moved == extremum(moved, axis=-1, keepdims=True)
    return np.array([[int(np.flatnonzero(row)[0])] for row in hits.reshape(-1, moved.shape[-1])]
                    ).reshape(moved.shape[:-1])


def test_argmax_of_ints_and_odd_sizes(backend):
    x = np.random.default_rng(3).integers(-50, 50, size=(5, 7, 3)).astype(np.int32)
    np.testing.assert_array_equal(engine.argmax(x, 1).numpy(), _first_index(x, 1, np.max))


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum(backend, axis, exclusive, reverse):
    x = random_array((4, 5, 3))

    def reference(a):
        a = np.moveaxis(a, axis, 0)
        out = np.zeros_like(a)
        order = range(len(a) - 1, -1, -1) if reverse else range(len(a))
        running = np.zeros_like(a[0])
        for i in order:  # written as the definition: a running total, before or after x[i]
            if exclusive:
                out[i] = running
            running = running + a[i]
            if not exclusive:
                out[i] = running
        return np.moveaxis(out, 0, axis)

    check_forward(lambda t: engine.cumsum(t, axis, exclusive, reverse), reference, [x],
                  "reduction")


def test_cumsum_of_ints_stays_int(backend):
    out = engine.cumsum(engine.tensor([3, -1, 4, 1]), 0)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), [3, 2, 6, 7])


@pytest.mark.parametrize("axis", [None, 1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_variance_moments(backend, axis, keepdims):
    x = random_array((3, 4, 2), low=-3.0, high=3.0)
    check_forward(lambda t: engine.logsumexp(t, axis, keepdims),
                  lambda a: np.log(np.sum(np.exp(a), axis=axis, keepdims=keepdims)), [x],
                  "reduction")
    check_forward(lambda t: engine.variance(t, axis, keepdims),
                  lambda a: np.var(a, axis=axis, keepdims=keepdims), [x], "reduction")
    check_forward(lambda t: engine.moments(t, axis, keepdims),
                  lambda a: (np.mean(a, axis=axis, keepdims=keepdims),
                             np.var(a, axis=axis, keepdims=keepdims)), [x], "reduction")


def test_logsumexp_is_stable(backend):
    x = engine.tensor([[1000.0, 1000.0], [-1000.0, -1001.0], [-np.inf, -np.inf]])
    out = engine.logsumexp(x, 1).numpy().astype(np.float64)
    np.testing.assert_allclose(out[:2], [1000.0 + np.log(2.0), -1000.0 + np.log1p(np.exp(-1.0))],
                               **TOLERANCES["reduction"])
    assert out[2] == -np.inf


# ---------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("axis", [None, 1, (0, 2), -1], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min"])
def test_reduction_gradients(backend, name, axis):
    op, _ = REDUCTIONS[name]
    # Distinct values (a permutation) keep max/min away from ties, where they have kinks.
    x = (np.random.default_rng(2).permutation(24).reshape(2, 3, 4) / 24.0 + 0.5)
    for keepdims in (False, True):
        check_gradients(lambda t: op(t, axis, keepdims), [x], backend)


def test_prod_gradient_with_zeros_is_the_product_of_the_others(backend):
    x = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 5.0], [1.5, -2.0, 4.0]])
    check_gradients(lambda t: engine.prod(t, 1), [x], backend)
    grads = engine.grad(lambda t: engine.sum(engine.prod(t, 1)))(engine.tensor(x))
    np.testing.assert_allclose(grads.numpy(), [[6.0, 0.0, 0.0], [0.0, 0.0, 0.0],
                                               [-8.0, 6.0, -3.0]], rtol=1e-6)


def test_max_gradient_splits_ties_evenly(backend):
    grads = engine.grad(lambda t: engine.sum(engine.max(t, 1)))(
        engine.tensor([[3.0, 1.0, 3.0], [0.0, 2.0, 2.0], [5.0, 5.0, 5.0]]))
    np.testing.assert_allclose(grads.numpy(), [[0.5, 0, 0.5], [0, 0.5, 0.5], [1 / 3] * 3],
                               rtol=1e-6)


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumsum_gradient(backend, exclusive, reverse):
    x = random_array((3, 4), seed=4)
    check_gradients(lambda t: engine.cumsum(t, -1, exclusive, reverse), [x], backend)


@pytest.mark.parametrize("axis", [None, 0, (1, 2)], ids=str)
def test_composite_gradients(backend, axis):
    x = random_array((2, 3, 4), seed=5, low=-2.0, high=2.0)
    check_gradients(lambda t: engine.logsumexp(t, axis), [x], backend)
    check_gradients(lambda t: engine.variance(t, axis, keepdims=True), [x], backend)
    check_gradients(lambda t: engine.moments(t, axis)[0] + engine.moments(t, axis)[1], [x],
                    backend)


# ---------------------------------------------------------------------------- properties

@st.composite
def _shape_and_axes(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), max_size=len(shape),
                         unique_by=lambda a: a % len(shape)))
    return shape, tuple(axes), draw(st.booleans())


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # backend is fixed per test
@given(case=_shape_and_axes(), seed=st.integers(0, 1000))
def test_property_reductions_match_numpy(backend, case, seed):
    shape, axes, keepdims = case
    x = random_array(shape, seed=seed)
    for name in ("sum", "max", "mean"):
        op, reference = REDUCTIONS[name]
        check_forward(lambda t: op(t, axes, keepdims),
                      lambda a: reference(a, axis=axes, keepdims=keepdims), [x], "reduction")


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, message", [
    (lambda x: engine.sum(x, 2), ValueError,
     r"Error in sum: axis 2 is out of range for a tensor of rank 2"),
    (lambda x: engine.mean(x, (0, -2)), ValueError, r"Error in mean: axis \(0, -2\) repeats"),
    (lambda x: engine.max(x, 1.5), TypeError,
     r"Error in max: axis must be an int or a tuple of ints"),
    (lambda x: engine.all(x), TypeError, r"Error in all: expected a bool tensor, got float32"),
    (lambda x: engine.argmax(x, (0, 1)), TypeError, r"Error in argmax: axis must be one int"),
    (lambda x: engine.argmin(x, -3), ValueError, r"Error in argmin: axis -3 is out of range"),
    (lambda x: engine.cumsum(x, 5), ValueError, r"Error in cumsum: axis 5 is out of range"),
    (lambda x: engine.logsumexp(engine.tensor([True, False])), TypeError,
     r"Error in logsumexp: expected a floating-point tensor, got bool"),
])
def test_bad_arguments_name_the_op_and_run_nothing(backend, call, error, message):
    x = engine.ones((2, 3))
    with pytest.raises(error, match=message), no_kernel_runs():
        call(x)


def test_max_and_argmax_of_an_empty_axis_are_refused(backend):
    x = engine.zeros((0, 3))
    for op in (engine.max, engine.min):
        with pytest.raises(ValueError, match=f"Error in {op.__name__}: cannot reduce over an "
                                             "empty axis"), no_kernel_runs():
            op(x, 0)
    with pytest.raises(ValueError, match="Error in argmax: cannot reduce"), no_kernel_runs():
        engine.argmax(x, 0)
    assert engine.max(x, 1).shape == (0,)
