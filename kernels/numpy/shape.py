"""NumPy shape kernels."""
import numpy as np

from engine.registry import register_kernel


@register_kernel("Reshape", "numpy")
def reshape(x, shape):
    return x.reshape(shape)


@register_kernel("BroadcastTo", "numpy")
def broadcast_to(x, shape):
    return np.ascontiguousarray(np.broadcast_to(x, shape))
