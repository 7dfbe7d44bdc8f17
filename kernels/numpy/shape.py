"""NumPy shape kernels. Every result is C-contiguous: slices, transposes and reversals are
copied rather than returned as strided views (device backends never see strided arrays)."""
import itertools

import numpy as np

from engine.registry import register_kernel


def _strided_index(begin, end, strides):
    """Per-dimension slices for range(begin, end, stride); end == -1 with a negative stride
    means "through index 0", which a Python slice spells as None."""
    return tuple(slice(b, None if e < 0 else e, s) for b, e, s in zip(begin, end, strides))


@register_kernel("Reshape", "numpy")
def reshape(x, shape):
    return x.reshape(shape)


@register_kernel("BroadcastTo", "numpy")
def broadcast_to(x, shape):
    out = np.empty(shape, dtype=x.dtype)  # filled by assignment: np.broadcast_to costs ~2 us
    out[...] = x
    return out


@register_kernel("Transpose", "numpy")
def transpose(x, perm):
    return np.transpose(x, perm).copy()


@register_kernel("Concat", "numpy")
def concat(*xs, axis):
    return np.concatenate(xs, axis=axis)


@register_kernel("Slice", "numpy")
def slice_block(x, begin, size):
    return x[tuple(slice(b, b + s) for b, s in zip(begin, size))].copy()


@register_kernel("Split", "numpy")
def split(x, axis, sizes):
    bounds = list(itertools.accumulate(sizes))[:-1]
    return tuple(part.copy() for part in np.split(x, bounds, axis=axis))


@register_kernel("StridedSlice", "numpy")
def strided_slice(x, begin, end, strides):
    return x[_strided_index(begin, end, strides)].copy()


@register_kernel("StridedSliceGrad", "numpy")
def strided_slice_grad(dy, shape, begin, end, strides):
    out = np.zeros(shape, dtype=dy.dtype)
    out[_strided_index(begin, end, strides)] = dy
    return out


@register_kernel("Pad", "numpy")
def pad(x, paddings, constant_value):
    return np.pad(x, paddings, mode="constant", constant_values=constant_value)


@register_kernel("Tile", "numpy")
def tile(x, reps):
    return np.tile(x, reps)


@register_kernel("Reverse", "numpy")
def reverse(x, axis):
    return np.flip(x, axis).copy()


@register_kernel("GatherV2", "numpy")
def gather(x, indices, axis):
    return np.asarray(np.take(x, indices, axis=axis))


@register_kernel("UnsortedSegmentSum", "numpy")
def unsorted_segment_sum(data, segment_ids, num_segments):
    """Ids outside [0, num_segments) are dropped, as in TF and the device kernels."""
    out = np.zeros((num_segments,) + data.shape[segment_ids.ndim:], dtype=data.dtype)
    kept = (segment_ids >= 0) & (segment_ids < num_segments)
    np.add.at(out, segment_ids[kept], data[kept])
    return out
