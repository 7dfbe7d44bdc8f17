"""The opencl reduction and softmax kernels' layout routes against float64 NumPy: a work-item per
output along a stride-1 reduced run, 64 adjacent outputs per work-item along a stride-1 kept
axis (full blocks and a partial tail, outputs not adjacent in the result), long reductions split
into parts, and views without a stride-1 axis copied first. Sizes are odd on purpose."""
import numpy as np
import pytest

import engine
from engine import runtime
from engine.kernels.opencl import strided
from engine.registry import get_kernel

_ROW = next(row for row in engine.list_backends() if row["name"] == "opencl")
pytestmark = pytest.mark.skipif(not _ROW["available"], reason=f"opencl: {_ROW['reason']}")

_REFERENCES = {"Sum": np.sum, "Mean": np.mean, "Max": np.max, "Min": np.min, "Prod": np.prod}


@pytest.fixture
def opencl():
    return runtime.backend("opencl")


def _views(opencl, host):
    """(name, device view, the same view on the host) for a few layouts of `host` (rank 3)."""
    native = opencl.from_host(host)
    return [("contiguous", native, host),
            ("permuted", strided.permute(native, (2, 0, 1)), host.transpose(2, 0, 1)),
            ("stepped", strided.slice_view(native, (0, 1, 0), host.shape, (1, 2, 1)),
             host[:, 1::2, :]),
            ("offset", strided.slice_view(native, (1, 0, 3), host.shape, (1, 1, 1)),
             host[1:, :, 3:])]


@pytest.mark.parametrize("axis", [(0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2), ()])
@pytest.mark.parametrize("op", sorted(_REFERENCES))
def test_reductions_over_every_axis_set_of_views(opencl, op, axis):
    rng = np.random.default_rng(1)
    host = rng.uniform(0.95, 1.05, size=(5, 9, 131)).astype(np.float32)
    for name, view, expected_view in _views(opencl, host):
        for keepdims in (False, True):
            got = opencl.to_host(get_kernel(op, "opencl")(view, axis=axis, keepdims=keepdims))
            expected = _REFERENCES[op](expected_view.astype(np.float64), axis=axis,
                                       keepdims=keepdims)
            assert got.shape == expected.shape, (name, keepdims)
            np.testing.assert_allclose(got, expected, rtol=2e-5, err_msg=name)


@pytest.mark.parametrize("shape, axis", [((100_003,), (0,)), ((3, 40_001), (1,)),
                                         ((40_001, 3), (0,)), ((20_001, 70), (0,)),
                                         ((1003, 1031), (0,)), ((1003, 1031), (1,)),
                                         ((7, 4099, 13), (0, 2))])
def test_long_reductions_split_into_parts(opencl, shape, axis):
    host = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    native = opencl.from_host(host)
    for op in ("Sum", "Mean", "Max"):
        got = opencl.to_host(get_kernel(op, "opencl")(native, axis=axis, keepdims=False))
        expected = _REFERENCES[op](host.astype(np.float64), axis=axis)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.sqrt(host.size),
                                   err_msg=op)


def test_int_and_bool_reductions_over_runs_and_lanes(opencl):
    rng = np.random.default_rng(3)
    ints = rng.integers(-1000, 1000, size=(67, 133)).astype(np.int32)
    flags = rng.uniform(size=(67, 133)) < 0.97
    for axis in ((0,), (1,)):
        for op, reference in (("Sum", np.sum), ("Max", np.max), ("Min", np.min)):
            got = opencl.to_host(get_kernel(op, "opencl")(opencl.from_host(ints), axis=axis,
                                                          keepdims=False))
            np.testing.assert_array_equal(got, reference(ints.astype(np.int64), axis=axis))
        for op, reference in (("All", np.all), ("Any", np.any)):
            for host in (flags, ~flags):
                got = opencl.to_host(get_kernel(op, "opencl")(opencl.from_host(host),
                                                              axis=axis, keepdims=False))
                np.testing.assert_array_equal(got, reference(host, axis=axis))


def test_max_and_arg_reductions_keep_nan_and_first_ties(opencl):
    host = np.random.default_rng(4).integers(0, 5, size=(77, 141)).astype(np.float32)
    host[10, 3] = host[50, 3] = np.nan
    host[20, 100] = np.nan
    for axis in (0, 1):
        for view, expected_view in ((opencl.from_host(host), host),
                                    (strided.permute(opencl.from_host(host.T.copy()), (1, 0)),
                                     host)):
            got = opencl.to_host(get_kernel("Max", "opencl")(view, axis=(axis,),
                                                             keepdims=False))
            np.testing.assert_array_equal(got, np.max(expected_view, axis=axis))
            for op, reference in (("ArgMax", np.argmax), ("ArgMin", np.argmin)):
                got = opencl.to_host(get_kernel(op, "opencl")(view, axis=axis))
                np.testing.assert_array_equal(got, reference(expected_view, axis=axis))


@pytest.mark.parametrize("shape, axis", [((33, 1031), 1), ((1031, 70), 0), ((5, 37, 131), 1),
                                         ((3, 4, 5), 2), ((1, 1), 0)])
def test_softmax_and_log_softmax_rows_and_lanes(opencl, shape, axis):
    host = np.random.default_rng(5).normal(scale=4, size=shape).astype(np.float32)
    shifted = host.astype(np.float64) - host.max(axis=axis, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    native = opencl.from_host(host)
    got = opencl.to_host(get_kernel("Softmax", "opencl")(native, axis=axis))
    np.testing.assert_allclose(got, np.exp(log_softmax), rtol=1e-5, atol=1e-7)
    got = opencl.to_host(get_kernel("LogSoftmax", "opencl")(native, axis=axis))
    np.testing.assert_allclose(got, log_softmax, rtol=1e-5, atol=1e-5)


def test_cross_entropies_over_long_rows(opencl):
    rng = np.random.default_rng(6)
    logits = rng.normal(scale=3, size=(29, 1031)).astype(np.float32)
    labels = rng.dirichlet(np.ones(1031), size=29).astype(np.float32)
    classes = rng.integers(0, 1031, size=29).astype(np.int32)
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    got = opencl.to_host(get_kernel("SoftmaxCrossEntropy", "opencl")(
        opencl.from_host(logits), opencl.from_host(labels)))
    np.testing.assert_allclose(got, -(labels * log_softmax).sum(axis=1), rtol=1e-5)
    loss, backprop = (opencl.to_host(out) for out in get_kernel(
        "SparseSoftmaxCrossEntropy", "opencl")(opencl.from_host(logits), opencl.from_host(classes)))
    np.testing.assert_allclose(loss, -log_softmax[np.arange(29), classes], rtol=1e-5)
    expected = np.exp(log_softmax)
    expected[np.arange(29), classes] -= 1
    np.testing.assert_allclose(backprop, expected, rtol=1e-4, atol=1e-7)
