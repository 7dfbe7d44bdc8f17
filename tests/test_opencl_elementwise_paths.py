"""The opencl elementwise kernels' two routes: same-shape dense operands go straight to a cached
dense kernel, everything else (broadcasting, strided or offset views, mixed dtypes, empty
arrays) through the strided planner. Both must agree with NumPy, and outputs must go back to
the pool when they die."""
import gc

import numpy as np
import pytest

import engine
from engine import runtime
from engine.registry import get_kernel

_ROW = next(row for row in engine.list_backends() if row["name"] == "opencl")
pytestmark = pytest.mark.skipif(not _ROW["available"], reason=f"opencl: {_ROW['reason']}")


@pytest.fixture
def opencl():
    return runtime.backend("opencl")


def _run(opencl, op, *hosts):
    return opencl.to_host(get_kernel(op, "opencl")(*[opencl.from_host(h) for h in hosts]))


@pytest.mark.parametrize("shape_a, shape_b", [((8,), (8,)), ((3, 1, 4), (2, 4)), ((5,), ()),
                                              ((0, 3), (0, 3))])
def test_add_and_less_match_numpy_dense_and_broadcast(opencl, shape_a, shape_b):
    rng = np.random.default_rng(0)
    a = rng.normal(size=shape_a).astype(np.float32)
    b = rng.normal(size=shape_b).astype(np.float32)
    added = _run(opencl, "Add", a, b)
    np.testing.assert_allclose(added, a.astype(np.float64) + b, rtol=1e-6)
    assert added.dtype == np.float32
    less = _run(opencl, "Less", a, b)
    np.testing.assert_array_equal(less, a.astype(np.float64) < b)
    assert less.dtype == np.bool_


def test_unary_and_binary_on_views_and_mixed_dtypes(opencl):
    from engine.kernels.opencl import strided

    host = np.arange(24, dtype=np.float32).reshape(4, 6) - 11.5
    native = opencl.from_host(host)
    transposed = strided.permute(native, (1, 0))
    offset = strided.slice_view(native, (1, 2), (3, 6), (1, 1))
    got = opencl.to_host(strided.copy(get_kernel("Neg", "opencl")(transposed)))
    np.testing.assert_array_equal(got, -host.T)
    got = opencl.to_host(strided.copy(get_kernel("Mul", "opencl")(offset, offset)))
    np.testing.assert_array_equal(got, host[1:3, 2:6].astype(np.float64) ** 2)
    ints = np.arange(24, dtype=np.int32).reshape(4, 6)
    got = _run(opencl, "Sub", host, ints)  # first input's dtype decides, as on the fast path
    np.testing.assert_allclose(got, host.astype(np.float64) - ints)


def test_outputs_return_to_the_pool_when_they_die(opencl):
    a = opencl.from_host(np.ones(1000, np.float32))
    add = get_kernel("Add", "opencl")
    add(a, a)  # warm-up: builds the kernel
    gc.collect()
    before = opencl.pool.active_bytes
    outputs = [add(a, a) for _ in range(5)]
    assert opencl.pool.active_bytes >= before + 5 * 4000
    del outputs
    gc.collect()
    assert opencl.pool.active_bytes == before
