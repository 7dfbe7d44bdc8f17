"""OpenCL shape kernels. Reshape of a contiguous array is a view; every other layout change is
a strided view of the input copied once by the strided template (no host round trips)."""
import numpy as np

from engine.kernels.opencl import program, strided
from engine.kernels.opencl.creation import filled
from engine.registry import register_kernel


def _copy_into(source, target):
    strided.run("x", ("x",), [source], target)


@register_kernel("Reshape", "opencl")
def reshape(x, shape):
    return strided.contiguous(x).reshape(shape)


@register_kernel("BroadcastTo", "opencl")
def broadcast_to(x, shape):
    return strided.copy(strided.broadcast(x, shape))


@register_kernel("Transpose", "opencl")
def transpose(x, perm):
    return strided.copy(strided.permute(x, perm))


@register_kernel("Concat", "opencl")
def concat(*xs, axis):
    shape = list(xs[0].shape)
    shape[axis] = sum(x.shape[axis] for x in xs)
    out = program.empty(shape, xs[0].dtype)
    start = 0
    for x in xs:
        begin = [0] * len(shape)
        end = list(shape)
        begin[axis], end[axis] = start, start + x.shape[axis]
        _copy_into(x, strided.slice_view(out, begin, end, [1] * len(shape)))
        start = end[axis]
    return out


@register_kernel("Slice", "opencl")
def slice_block(x, begin, size):
    end = [b + s for b, s in zip(begin, size)]
    return strided.copy(strided.slice_view(x, begin, end, [1] * x.ndim))


@register_kernel("Split", "opencl")
def split(x, axis, sizes):
    parts, begin = [], [0] * x.ndim
    for size in sizes:
        end = list(x.shape)
        end[axis] = begin[axis] + size
        parts.append(strided.copy(strided.slice_view(x, begin, end, [1] * x.ndim)))
        begin = [0] * x.ndim
        begin[axis] = end[axis]
    return tuple(parts)


@register_kernel("StridedSlice", "opencl")
def strided_slice(x, begin, end, strides):
    return strided.copy(strided.slice_view(x, begin, end, strides))


@register_kernel("StridedSliceGrad", "opencl")
def strided_slice_grad(dy, shape, begin, end, strides):
    out = filled(shape, 0, dy.dtype)
    _copy_into(dy, strided.slice_view(out, begin, end, strides))
    return out


@register_kernel("Pad", "opencl")
def pad(x, paddings, constant_value):
    shape = [n + before + after for n, (before, after) in zip(x.shape, paddings)]
    out = filled(shape, constant_value, x.dtype)
    begin = [before for before, _ in paddings]
    end = [b + n for b, n in zip(begin, x.shape)]
    _copy_into(x, strided.slice_view(out, begin, end,
                                                   [1] * x.ndim))
    return out


@register_kernel("Tile", "opencl")
def tile(x, reps):
    """Copy a view of shape (r0, d0, r1, d1, ...) whose rep axes have stride 0."""
    shape, strides = [], []
    for rep, n, stride in zip(reps, x.shape, x.strides):
        shape += [rep, n]
        strides += [0, stride]
    return strided.copy(x.view(shape, strides)).reshape(tuple(r * n for r, n in zip(reps, x.shape)))


@register_kernel("Reverse", "opencl")
def reverse(x, axis):
    begin = [n - 1 if d in axis else 0 for d, n in enumerate(x.shape)]
    end = [-1 if d in axis else n for d, n in enumerate(x.shape)]
    steps = [-1 if d in axis else 1 for d in range(x.ndim)]
    return strided.copy(strided.slice_view(x, begin, end, steps))


_GATHER = """
__kernel void gather(__global const TYPE* x, __global const int* indices, __global TYPE* out,
                     long count, long axis_size, long inner)
{
    long at = get_global_id(0);
    long k = at % inner, rest = at / inner;
    long j = rest % count, outer = rest / count;
    out[at] = x[(outer * axis_size + indices[j]) * inner + k];
}
"""


@register_kernel("GatherV2", "opencl")
def gather(x, indices, axis):
    x, indices = strided.dense(x), strided.dense(indices)
    out = program.empty(x.shape[:axis] + indices.shape + x.shape[axis + 1:], x.dtype)
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    code = _GATHER.replace("TYPE", program.c_type(x.dtype))
    program.launch(program.kernel(code, "gather"), (out.size,), None, x.data, indices.data,
                   out.data, np.int64(indices.size), np.int64(x.shape[axis]), np.int64(inner))
    return out


# Atomic accumulation: floats through compare-and-swap on their bits, ints with atomic add.
_ATOMIC_ADD = {
    "float": """
void add_to(volatile __global float* target, float value)
{
    union { unsigned int bits; float number; } old, new_;
    do {
        old.number = *target;
        new_.number = old.number + value;
    } while (atomic_cmpxchg((volatile __global unsigned int*)target, old.bits, new_.bits)
             != old.bits);
}
""",
    "double": """
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
void add_to(volatile __global double* target, double value)
{
    union { unsigned long bits; double number; } old, new_;
    do {
        old.number = *target;
        new_.number = old.number + value;
    } while (atom_cmpxchg((volatile __global unsigned long*)target, old.bits, new_.bits)
             != old.bits);
}
""",
    "int": "void add_to(volatile __global int* target, int value) { atomic_add(target, value); }",
    "long": """
#pragma OPENCL EXTENSION cl_khr_int64_base_atomics : enable
void add_to(volatile __global long* target, long value) { atom_add(target, value); }
""",
}

_SEGMENT_SUM = """
__kernel void segment_sum(__global const TYPE* data, __global const int* ids,
                          __global TYPE* out, long inner, int num_segments)
{
    long at = get_global_id(0);
    int id = ids[at / inner];
    if (id >= 0 && id < num_segments)
        add_to(out + (long)id * inner + at % inner, data[at]);
}
"""


@register_kernel("UnsortedSegmentSum", "opencl")
def unsorted_segment_sum(data, segment_ids, num_segments):
    """Each data element adds itself atomically to its segment's row; ids out of range drop."""
    data, segment_ids = strided.dense(data), strided.dense(segment_ids)
    inner_shape = data.shape[segment_ids.ndim:]
    out = filled((num_segments,) + inner_shape, 0, data.dtype)
    ctype = program.c_type(data.dtype)
    code = _ATOMIC_ADD[ctype] + _SEGMENT_SUM.replace("TYPE", ctype)
    inner = int(np.prod(inner_shape, dtype=np.int64))
    program.launch(program.kernel(code, "segment_sum"), (data.size,), None, data.data,
                   segment_ids.data, out.data, np.int64(max(inner, 1)), np.int32(num_segments))
    return out
