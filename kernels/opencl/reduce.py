"""OpenCL reductions: one work-group per output (or per chunk of a long one), tree-reduced in
local memory; any axis set, reading the input through strides so no transpose is copied.

A reduction over a long extent with few outputs runs in two passes: chunks of the extent are
reduced by separate work-groups, then the partial results are reduced again.
"""
import functools

import numpy as np

from engine.kernels.opencl import program, strided
from engine.registry import register_kernel

# op: (combine of accumulators a and b, neutral element for floats, for ints, needs count)
_COMBINE = {
    "Sum": ("a + b", "0", "0"),
    "Mean": ("a + b", "0", "0"),
    "Prod": ("a * b", "1", "1"),
    "Max": ("((a > b || a != a) ? a : b)", "-INFINITY", "{min}"),
    "Min": ("((a < b || a != a) ? a : b)", "INFINITY", "{max}"),
    "All": ("a && b", "1", "1"),
    "Any": ("a || b", "0", "0"),
}
_INT_LIMITS = {"int": ("INT_MIN", "INT_MAX"), "long": ("LONG_MIN", "LONG_MAX"),
               "uchar": ("0", "1")}
_LONG_EXTENT = 1 << 13  # reduce in chunks above this many elements per output ...
_FEW_OUTPUTS = 16       # ... when there are fewer outputs than this
_MAX_GROUP = 128


def _coordinates(prefix, rank, itype, source_index):
    """C lines turning flat `source_index` into an offset over dims {prefix}dim*/stride*."""
    lines = [f"{itype} {prefix}rest = {source_index}; {itype} {prefix}at = 0;"]
    for d in range(rank - 1, -1, -1):
        lines.append(f"{prefix}at += ({prefix}rest % {prefix}dim{d}) * {prefix}stride{d}; "
                     f"{prefix}rest /= {prefix}dim{d};")
    return lines


@functools.lru_cache(maxsize=None)
def _source(op, in_type, acc_type, out_type, kept_rank, reduced_rank, itype, with_index):
    combine, float_neutral, int_neutral = _COMBINE.get(op, _COMBINE["Max"])
    low, high = _INT_LIMITS.get(acc_type, ("0", "0"))
    neutral = float_neutral if acc_type in ("float", "double") else int_neutral.format(
        min=low, max=high)
    params = [f"__global const {in_type}* x", f"{itype} x_offset", f"__global {out_type}* out",
              f"{itype} chunk_size", f"{itype} chunks", f"{itype} reduce_size",
              f"{acc_type} count"]
    params += [f"{itype} k{kind}{d}" for kind in ("dim", "stride") for d in range(kept_rank)]
    params += [f"{itype} r{kind}{d}" for kind in ("dim", "stride") for d in range(reduced_rank)]
    params += [f"__local {acc_type}* scratch"]
    lines = [f"{itype} group = get_group_id(0), lane = get_local_id(0), "
             f"width = get_local_size(0);",
             f"{itype} chunk = group % chunks;"]
    lines += _coordinates("k", kept_rank, itype, "group / chunks")
    lines += [f"{acc_type} acc = {neutral};",
              f"{itype} end = min(reduce_size, (chunk + 1) * chunk_size);"]
    if with_index:  # arg-reductions carry the flat index of the best value beside it
        params.insert(-1, "__local int* scratch_index")
        lines += ["int best = 0;", "int found = 0;"]
    lines.append(f"for ({itype} r = chunk * chunk_size + lane; r < end; r += width) {{")
    lines += ["    " + line for line in _coordinates("r", reduced_rank, itype, "r")]
    lines.append(f"    {acc_type} b = ({acc_type})x[x_offset + kat + rat];")
    if with_index:
        lines += [f"    if (!found || {_better('b', 'acc', op)}) {{ acc = b; best = r; }}",
                  "    found = 1;"]
    else:
        lines.append(f"    {acc_type} a = acc; acc = {combine};")
    lines += ["}", "scratch[lane] = acc;"]
    if with_index:
        lines.append("scratch_index[lane] = found ? best : -1;")
    lines += ["barrier(CLK_LOCAL_MEM_FENCE);",
              f"for ({itype} step = width / 2; step > 0; step /= 2) {{",
              "    if (lane < step) {"]
    if with_index:  # the first index wins ties; lanes that saw nothing have index -1
        lines += ["        int i = scratch_index[lane], j = scratch_index[lane + step];",
                  f"        {acc_type} a = scratch[lane], b = scratch[lane + step];",
                  f"        if (j >= 0 && (i < 0 || {_better('b', 'a', op)} || "
                  f"(!({_better('a', 'b', op)}) && j < i))) {{",
                  "            scratch[lane] = b; scratch_index[lane] = j; }"]
    else:
        lines += [f"        {acc_type} a = scratch[lane], b = scratch[lane + step];",
                  f"        scratch[lane] = {combine};"]
    lines += ["    }", "    barrier(CLK_LOCAL_MEM_FENCE);", "}"]
    if with_index:
        lines.append("if (lane == 0) out[group] = scratch_index[0] < 0 ? 0 : scratch_index[0];")
    elif op == "Mean":
        lines.append(f"if (lane == 0) out[group] = ({out_type})(scratch[0] / count);")
    else:
        lines.append(f"if (lane == 0) out[group] = ({out_type})scratch[0];")
    return ("__kernel void reduce(" + ", ".join(params) + ")\n{\n    "
            + "\n    ".join(lines) + "\n}\n")


def _better(a, b, op):
    """C condition: value a beats value b (NaN beats everything, as NumPy's argmax)."""
    compare = ">" if op == "ArgMax" else "<"
    return f"(({a} {compare} {b}) || ({a} != {a} && {b} == {b}))"


def _group_size(extent):
    size = 1
    while size < min(extent, _MAX_GROUP):
        size *= 2
    return size


def _reduce_view(op, source, kept_axes, reduced_axes, out_shape, out_dtype, count=None):
    """Reduce `source` (any view) over reduced_axes; returns a contiguous array of out_shape."""
    kept = [(source.shape[d], source.strides[d]) for d in kept_axes]
    reduced = [(source.shape[d], source.strides[d]) for d in reduced_axes]
    outputs = int(np.prod([n for n, _ in kept], dtype=np.int64))
    reduce_size = int(np.prod([n for n, _ in reduced], dtype=np.int64))
    with_index = op in ("ArgMax", "ArgMin")
    chunks = 1
    if outputs < _FEW_OUTPUTS and reduce_size > _LONG_EXTENT and not with_index:
        chunks = min(64, reduce_size // _LONG_EXTENT)
    chunk_size = -(-reduce_size // chunks)
    in_type = program.c_type(source.dtype)
    acc_type = "float" if in_type == "half" else in_type
    stage_type = out_dtype if chunks == 1 else np.dtype(source.dtype)
    out = program.empty((outputs * chunks,), stage_type)
    extents = [outputs * chunks, reduce_size,
               source.offset + sum(abs(s) * n for n, s in kept + reduced)]
    itype = program.index_type(*extents)
    int_type = np.int32 if itype == "int" else np.int64
    stage_op = "Sum" if (op == "Mean" and chunks > 1) else op
    code = _source(stage_op, in_type, acc_type, program.c_type(stage_type), len(kept),
                   len(reduced), itype, with_index)
    group = _group_size(-(-reduce_size // chunks))
    acc_size = np.dtype(acc_type if acc_type != "uchar" else "uint8").itemsize
    args = [source.data, int_type(source.offset), out.data, int_type(chunk_size),
            int_type(chunks), int_type(reduce_size),
            np.dtype(program.NUMPY_TYPES[acc_type]).type(
                (count or reduce_size) if op == "Mean" else 0)]
    args += [int_type(n) for n, _ in kept] + [int_type(s) for _, s in kept]
    args += [int_type(n) for n, _ in reduced] + [int_type(s) for _, s in reduced]
    if with_index:
        args.append(program.cl.LocalMemory(4 * group))
    args.append(program.cl.LocalMemory(acc_size * group))
    program.launch(program.kernel(code, "reduce"), (outputs * chunks * group,), (group,), *args)
    if chunks > 1:
        partial = out.reshape(outputs, chunks)
        out = _reduce_view(op, partial, (0,), (1,), (outputs,), out_dtype, reduce_size)
    return out.reshape(out_shape)


def reduce_axes(op, x, axis, keepdims, out_dtype=None):
    """Reduce the device array x over the sorted tuple `axis`."""
    kept_axes = tuple(d for d in range(x.ndim) if d not in axis)
    out_shape = tuple(1 if d in axis else n for d, n in enumerate(x.shape)) if keepdims else \
        tuple(x.shape[d] for d in kept_axes)
    return _reduce_view(op, x, kept_axes, axis, out_shape,
                        np.dtype(out_dtype or x.dtype))


def _register(op):
    @register_kernel(op, "opencl")
    def kernel(x, axis, keepdims):
        return reduce_axes(op, x, tuple(axis), keepdims)


for _op in _COMBINE:
    _register(_op)


@register_kernel("ArgMax", "opencl")
def arg_max(x, axis):
    return reduce_axes("ArgMax", x, (axis,), False, np.int32)


@register_kernel("ArgMin", "opencl")
def arg_min(x, axis):
    return reduce_axes("ArgMin", x, (axis,), False, np.int32)


_CUMSUM = """
__kernel void cumsum(__global const TYPE* x, __global TYPE* out, int length, int inner,
                     int exclusive, int reverse)
{
    int row = get_global_id(0);
    int base = (row / inner) * length * inner + row % inner;
    TYPE total = 0;
    for (int k = 0; k < length; ++k) {
        int at = base + (reverse ? length - 1 - k : k) * inner;
        TYPE value = x[at];
        out[at] = exclusive ? total : total + value;
        total += value;
    }
}
"""


@register_kernel("Cumsum", "opencl")
def cumsum(x, axis, exclusive, reverse):
    """A running sum per row; rows (every position off the axis) run in parallel."""
    x = strided.dense(x)
    out = program.empty(x.shape, x.dtype)
    length = x.shape[axis]
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    rows = x.size // length if length else 0
    code = _CUMSUM.replace("TYPE", program.c_type(x.dtype))
    program.launch(program.kernel(code, "cumsum"), (rows,), None, x.data, out.data,
                   np.int32(length), np.int32(inner), np.int32(exclusive), np.int32(reverse))
    return out
