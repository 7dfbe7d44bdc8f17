"""CuPy shape kernels. Every result is C-contiguous, as on NumPy: the raw CUDA kernels index
their inputs as dense row-major arrays."""
import itertools

from engine.backends import cupy_backend
from engine.registry import register_kernel


def _strided_index(begin, end, strides):
    """Per-dimension slices for range(begin, end, stride); end == -1 with a negative stride
    means "through index 0", which a Python slice spells as None."""
    return tuple(slice(b, None if e < 0 else e, s) for b, e, s in zip(begin, end, strides))


@register_kernel("Reshape", "cupy")
def reshape(x, shape):
    return cupy_backend.cp.ascontiguousarray(x).reshape(shape)


@register_kernel("BroadcastTo", "cupy")
def broadcast_to(x, shape):
    cp = cupy_backend.cp
    return cp.ascontiguousarray(cp.broadcast_to(x, shape))


@register_kernel("Transpose", "cupy")
def transpose(x, perm):
    return cupy_backend.cp.ascontiguousarray(x.transpose(perm))


@register_kernel("Concat", "cupy")
def concat(*xs, axis):
    return cupy_backend.cp.concatenate(xs, axis=axis)


@register_kernel("Slice", "cupy")
def slice_block(x, begin, size):
    return x[tuple(slice(b, b + s) for b, s in zip(begin, size))].copy()


@register_kernel("Split", "cupy")
def split(x, axis, sizes):
    bounds = list(itertools.accumulate(sizes))[:-1]
    return tuple(part.copy() for part in cupy_backend.cp.split(x, bounds, axis=axis))


@register_kernel("StridedSlice", "cupy")
def strided_slice(x, begin, end, strides):
    return x[_strided_index(begin, end, strides)].copy()


@register_kernel("StridedSliceGrad", "cupy")
def strided_slice_grad(dy, shape, begin, end, strides):
    out = cupy_backend.cp.zeros(shape, dtype=dy.dtype)
    out[_strided_index(begin, end, strides)] = dy
    return out


@register_kernel("Pad", "cupy")
def pad(x, paddings, constant_value):
    return cupy_backend.cp.pad(x, paddings, mode="constant", constant_values=constant_value)


@register_kernel("Tile", "cupy")
def tile(x, reps):
    return cupy_backend.cp.tile(x, reps)


@register_kernel("Reverse", "cupy")
def reverse(x, axis):
    return cupy_backend.cp.flip(x, axis).copy()


@register_kernel("GatherV2", "cupy")
def gather(x, indices, axis):
    return cupy_backend.cp.take(x, indices, axis=axis)


@register_kernel("UnsortedSegmentSum", "cupy")
def unsorted_segment_sum(data, segment_ids, num_segments):
    """Atomic adds (cupy.add.at) into one spare row that collects the ids outside
    [0, num_segments), dropped as in TF. float16 sums in float32, int64 as its two's-complement
    uint64 bits (the same sum), bool through int32."""
    cp = cupy_backend.cp
    work_dtype = {"float16": cp.float32, "int64": cp.uint64, "bool": cp.int32}.get(
        data.dtype.name, data.dtype)
    out = cp.zeros((num_segments + 1,) + data.shape[segment_ids.ndim:], dtype=work_dtype)
    kept = (segment_ids >= 0) & (segment_ids < num_segments)
    rows = cp.where(kept, segment_ids, num_segments)
    if data.dtype.name == "int64":
        values = cp.ascontiguousarray(data).view(cp.uint64)
    else:
        values = data.astype(work_dtype, copy=False)
    cp.add.at(out, rows, values)
    out = out[:num_segments]
    return out.view(cp.int64) if data.dtype.name == "int64" else out.astype(data.dtype,
                                                                             copy=False)
