"""NumPy pooling kernels over a strided window view: no Python loop over pixels or batch."""
import numpy as np

from engine.kernels.numpy.conv import backprop_to_input, output_size, pad_spatial, windows
from engine.registry import register_kernel


def _window_view(x, pool_size, strides, padding, fill):
    """(N, OH, OW, KH, KW, C) windows of x padded with `fill`."""
    out_hw = output_size(x.shape[1:3], pool_size, strides, padding)
    return windows(pad_spatial(x, padding, fill), pool_size, out_hw, strides)


def _lowest(dtype):
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


@register_kernel("MaxPool", "numpy")
def max_pool(x, pool_size, strides, padding):
    return _window_view(x, pool_size, strides, padding, _lowest(x.dtype)).max(axis=(3, 4))


@register_kernel("MaxPoolGrad", "numpy")
def max_pool_grad(x, y, dy, pool_size, strides, padding):
    """dy goes to the first maximum of each window, in row-major window order (TF's rule)."""
    view = _window_view(x, pool_size, strides, padding, _lowest(x.dtype))
    n, oh, ow, kh, kw, c = view.shape
    winner = view.transpose(0, 1, 2, 5, 3, 4).reshape(n, oh, ow, c, kh * kw).argmax(axis=-1)
    blocks = np.zeros((kh * kw,) + dy.shape, dtype=dy.dtype)
    for tap in range(kh * kw):
        np.copyto(blocks[tap], dy, where=winner == tap)
    return backprop_to_input(lambda rows: blocks[:, rows], dy.shape[1:3], x.shape, dy.dtype,
                             pool_size, strides, padding)


def _cells_inside(input_hw, pool_size, strides, padding):
    """(OH, OW, 1) count of each window's cells that lie inside the image."""
    ones = np.ones((1,) + tuple(input_hw) + (1,), dtype=np.float64)
    counts = _window_view(ones, pool_size, strides, padding, 0.0).sum(axis=(3, 4))
    return counts[0]


@register_kernel("AvgPool", "numpy")
def avg_pool(x, pool_size, strides, padding):
    sums = _window_view(x, pool_size, strides, padding, 0).sum(axis=(3, 4))
    return (sums / _cells_inside(x.shape[1:3], pool_size, strides, padding)).astype(x.dtype)


@register_kernel("AvgPoolGrad", "numpy")
def avg_pool_grad(dy, input_shape, pool_size, strides, padding):
    share = (dy / _cells_inside(input_shape[1:3], pool_size, strides, padding)).astype(dy.dtype)
    blocks = np.broadcast_to(share, (pool_size[0] * pool_size[1],) + share.shape)
    return backprop_to_input(lambda rows: blocks[:, rows], dy.shape[1:3], input_shape,
                             dy.dtype, pool_size, strides, padding)
