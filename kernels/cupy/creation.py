"""CuPy kernels that make new tensors from attributes only."""
from engine.backends import cupy_backend
from engine.registry import register_kernel


@register_kernel("Fill", "cupy")
def fill(shape, value, dtype):
    return cupy_backend.cp.full(shape, value, dtype=dtype)


@register_kernel("Range", "cupy")
def range_(start, delta, size, dtype):
    cp = cupy_backend.cp
    return (start + delta * cp.arange(size, dtype=cp.float64)).astype(dtype)
