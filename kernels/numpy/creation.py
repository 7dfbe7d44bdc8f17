"""NumPy kernels that make new tensors from attributes only."""
import numpy as np

from engine.registry import register_kernel


@register_kernel("Fill", "numpy")
def fill(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


@register_kernel("Range", "numpy")
def range_(start, delta, size, dtype):
    return (start + delta * np.arange(size, dtype=np.float64)).astype(dtype)
