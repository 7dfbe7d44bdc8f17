"""NumPy reduction kernels: axis reductions, arg reductions and the running sum."""
import math

import numpy as np

from engine.registry import register_kernel


_BLAS_FLOATS = (np.float32, np.float64)  # dtypes np.matmul hands to BLAS
SHORT_AXIS = 32  # a last axis up to this long is reduced down the columns of a transposed copy
LONG_ROWS = 64  # trailing runs at least this long are summed by BLAS


def reduce_last_axis(ufunc, x, keepdims):
    """ufunc.reduce over x's last axis. NumPy reduces a short last axis one row at a time, at
    ~50 ns a row (max over (4096, 10): 209 us); down the columns of a transposed copy it runs
    whole rows of the copy at once (18 us, the copy included)."""
    extent = x.shape[-1]
    if not 1 < extent <= SHORT_AXIS or x.size < 4 * SHORT_AXIS:
        return ufunc.reduce(x, axis=-1, keepdims=keepdims)
    columns = np.ascontiguousarray(x.reshape(-1, extent).T)
    return ufunc.reduce(columns, axis=0).reshape(x.shape[:-1] + ((1,) if keepdims else ()))


@register_kernel("Sum", "numpy")
def reduce_sum(x, axis, keepdims):
    """Sums over the leading or the trailing axes of a contiguous float array are BLAS
    products with a ones vector: NumPy adds short rows one at a time and long ones with
    pairwise sums on one core (a (43264, 8) bias gradient: 550 -> 35 us; the rows of a
    1024x1024: 195 -> 38 us). Both accumulate in x's dtype. Short trailing runs stay with
    NumPy, whose summation order the Keras cross-checks were written against."""
    count = len(axis) if axis is not None else 0
    if 0 < count < x.ndim and x.dtype.type in _BLAS_FLOATS and x.flags.c_contiguous and x.size:
        # The axes are sorted and distinct, so the first or last one decides.
        if axis[-1] == count - 1:  # leading axes
            kept = x.shape[count:]
            rows = x.reshape(-1, math.prod(kept))
            total = np.ones(len(rows), dtype=x.dtype) @ rows
            return total.reshape((1,) * count + kept if keepdims else kept)
        kept = x.shape[:-count]
        run = x.size // math.prod(kept)
        if axis[0] == x.ndim - count and run >= LONG_ROWS:  # long trailing runs
            total = x.reshape(-1, run) @ np.ones(run, x.dtype)
            return total.reshape(kept + (1,) * count if keepdims else kept)
    return np.asarray(np.add.reduce(x, axis=axis, keepdims=keepdims, dtype=x.dtype))


@register_kernel("Mean", "numpy")
def reduce_mean(x, axis, keepdims):
    if x.size == 0:  # the mean of nothing is nan (NumPy would also warn)
        return np.full(_reduced_shape(x.shape, axis, keepdims), np.nan, dtype=x.dtype)
    return np.asarray(np.mean(x, axis=axis, keepdims=keepdims)).astype(x.dtype, copy=False)


@register_kernel("Prod", "numpy")
def reduce_prod(x, axis, keepdims):
    return np.asarray(np.prod(x, axis=axis, keepdims=keepdims, dtype=x.dtype))


@register_kernel("Max", "numpy")
def reduce_max(x, axis, keepdims):
    return _extremum(np.maximum, x, axis, keepdims)


@register_kernel("Min", "numpy")
def reduce_min(x, axis, keepdims):
    return _extremum(np.minimum, x, axis, keepdims)


def _extremum(ufunc, x, axis, keepdims):
    if axis is not None and tuple(axis) == (x.ndim - 1,) and x.size:
        return reduce_last_axis(ufunc, x, keepdims)
    return np.asarray(ufunc.reduce(x, axis=axis, keepdims=keepdims))


@register_kernel("All", "numpy")
def reduce_all(x, axis, keepdims):
    return np.asarray(np.all(x, axis=axis, keepdims=keepdims))


@register_kernel("Any", "numpy")
def reduce_any(x, axis, keepdims):
    return np.asarray(np.any(x, axis=axis, keepdims=keepdims))


@register_kernel("ArgMax", "numpy")
def arg_max(x, axis):
    return np.argmax(x, axis=axis).astype(np.int32)


@register_kernel("ArgMin", "numpy")
def arg_min(x, axis):
    return np.argmin(x, axis=axis).astype(np.int32)


def running_sum(xp, x, axis, exclusive, reverse):
    """Cumsum with the array module `xp` (NumPy here, CuPy for the cupy backend)."""
    if reverse:
        x = xp.flip(x, axis)
    out = xp.cumsum(x, axis=axis, dtype=x.dtype)
    if exclusive:
        # Shift by one along the axis, so element i holds the sum of the elements before it.
        shifted = xp.zeros_like(out)
        lead = [slice(None)] * x.ndim
        lead[axis] = slice(1, None)
        tail = [slice(None)] * x.ndim
        tail[axis] = slice(None, -1)
        shifted[tuple(lead)] = out[tuple(tail)]
        out = shifted
    return xp.ascontiguousarray(xp.flip(out, axis) if reverse else out)


@register_kernel("Cumsum", "numpy")
def cumsum(x, axis, exclusive, reverse):
    return running_sum(np, x, axis, exclusive, reverse)


def _reduced_shape(shape, axis, keepdims):
    if keepdims:
        return tuple(1 if i in axis else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axis)
