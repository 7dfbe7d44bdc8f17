"""NumPy reduction kernels."""
import numpy as np

from engine.registry import register_kernel


@register_kernel("Sum", "numpy")
def reduce_sum(x, axis, keepdims):
    return np.asarray(np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype))
