"""NumPy pooling kernels over a strided window view: no Python loop over pixels or batch."""
import itertools

import numpy as np

from engine.kernels.numpy.conv import (backprop_to_input, output_size, pad_spatial, tap_slices,
                                       windows)
from engine.registry import register_kernel


def _window_view(x, pool_size, strides, padding, fill):
    """(N, OH, OW, KH, KW, C) windows of x padded with `fill`."""
    out_hw = output_size(x.shape[1:3], pool_size, strides, padding)
    return windows(pad_spatial(x, padding, fill), pool_size, out_hw, strides)


def _lowest(dtype):
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


@register_kernel("MaxPool", "numpy")
def max_pool(x, pool_size, strides, padding):
    """A separable running maximum: over the window's rows on whole image rows (long
    contiguous runs), then over its columns (64x26x26x8, 2x2: 240 -> 175 us)."""
    padded = pad_spatial(x, padding, _lowest(x.dtype))
    oh, ow = output_size(x.shape[1:3], pool_size, strides, padding)
    (kh, kw), (sh, sw) = pool_size, strides
    rows = padded[:, 0:(oh - 1) * sh + 1:sh].copy()
    for i in range(1, kh):
        np.maximum(rows, padded[:, i:i + (oh - 1) * sh + 1:sh], out=rows)
    out = rows[:, :, 0:(ow - 1) * sw + 1:sw].copy()
    for j in range(1, kw):
        np.maximum(out, rows[:, :, j:j + (ow - 1) * sw + 1:sw], out=out)
    return out


def _claim_words(channels):
    """An unsigned dtype as wide as the largest of 8, 4, 2, 1 bytes that divides `channels`."""
    return next(np.dtype(f"u{size}") for size in (8, 4, 2, 1) if channels % size == 0)


def _first_marks_only(taps):
    """Clears every mark (taps: (rows, KH, OW, KW, words)) that an earlier tap of its window,
    in row-major order, also holds."""
    order = list(itertools.product(range(taps.shape[1]), range(taps.shape[3])))
    claimed = taps[(slice(None), order[0][0], slice(None), order[0][1])].copy()
    for i, j in order[1:]:
        tap = taps[:, i, :, j]
        tap &= ~claimed  # marks are 0 or 1 per byte: & with ~claimed clears the claimed ones
        claimed |= tap


def _disjoint_max_pool_grad(x, y, dy, pool_size, nan_windows):
    """Windows that tile the image (strides == pool_size, no padding), with every op on long
    contiguous runs instead of C-wide strided ones (64x26x26x8, 2x2: 700 -> 330 us).

    y and dy are repeated along W to the windows' width; then one compare over x, against y
    broadcast over each window's rows, marks every cell equal to its maximum. Where there are
    more marks than windows, some window ties: the marks are then viewed as machine words (a
    word holds the 0/1 marks of several channels of one pixel) and, tap by tap in row-major
    order, a tap keeps only the marks no earlier tap holds (70-100 us of 400 that a tie-free
    64x26x26x8 gradient, the common case below an unrectified maximum, skips).
    """
    n, h, w, c = x.shape
    (oh, ow), (kh, kw) = y.shape[1:3], pool_size
    rows, length = n * oh, ow * kw * c
    cells = x[:, :oh * kh, :ow * kw].reshape(rows, kh, length)
    marks = cells == np.repeat(y, kw, axis=2).reshape(rows, 1, length)
    if nan_windows:
        marks |= np.isnan(cells)
    if np.count_nonzero(marks) > y.size:  # a tie: every window holds at least one mark
        _first_marks_only(marks.view(_claim_words(c)).reshape(rows, kh, ow, kw, -1))
    share = np.repeat(dy, kw, axis=2).reshape(rows, 1, length)
    if np.isfinite(dy).all():
        grad = np.multiply(share, marks)  # the select: 5x faster than np.where here
    else:  # inf * 0 would leak NaN into the losers
        grad = np.where(marks, share, np.zeros((), dy.dtype))
    if (oh * kh, ow * kw) == (h, w):
        return grad.reshape(x.shape)
    full = np.zeros(x.shape, dtype=grad.dtype)  # rows and columns past the last window
    full[:, :oh * kh, :ow * kw] = grad.reshape(n, oh * kh, ow * kw, c)
    return full


@register_kernel("MaxPoolGrad", "numpy")
def max_pool_grad(x, y, dy, pool_size, strides, padding):
    """dy goes to the first maximum of each window, in row-major window order (TF's rule):
    tap by tap, the cells equal to the window's maximum y (or NaN, which max propagates) that
    no earlier tap claimed take dy."""
    nan_windows = x.dtype.kind == "f" and bool(np.isnan(y).any())
    if tuple(strides) == tuple(pool_size) and not any(map(any, padding)):
        return _disjoint_max_pool_grad(x, y, dy, pool_size, nan_windows)
    view = _window_view(x, pool_size, strides, padding, _lowest(x.dtype))
    finite_dy = bool(np.isfinite(dy).all())
    (top, bottom), (left, right) = padding
    n, h, w, c = x.shape
    padded = np.zeros((n, h + top + bottom, w + left + right, c), dtype=dy.dtype)
    unclaimed = np.ones(dy.shape, dtype=bool)
    disjoint = strides[0] >= pool_size[0] and strides[1] >= pool_size[1]
    for i, j in itertools.product(range(pool_size[0]), range(pool_size[1])):
        cells = view[:, :, :, i, j]
        wins = cells == y
        if nan_windows:
            wins |= np.isnan(cells)
        wins &= unclaimed
        unclaimed &= ~wins
        target = padded[tap_slices((i, j), dy.shape[1:3], strides)]
        if not finite_dy:  # dy * mask, the fast select, would leak inf or NaN into the losers
            target += np.where(wins, dy, 0)
        elif disjoint:  # no cell is in two windows: each tap writes its own cells once
            np.multiply(dy, wins, out=target)
        else:
            target += dy * wins
    return padded[:, top:top + h, left:left + w]


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
