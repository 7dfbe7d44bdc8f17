"""Strided views and the one template every elementwise-shaped kernel is generated from.

A view is (buffer, offset, shape, strides) in elements. Transpose, slices, reverse, broadcast
and tile are views with other strides (negative or zero), so one strided kernel per arity does
elementwise math with broadcasting, copies and layout changes without materialising anything.
"""
import functools
import math
from collections import namedtuple

import numpy as np

from engine.kernels.opencl import program

View = namedtuple("View", "data offset shape strides dtype")


def view(array):
    """The view of a pyopencl array (its own shape and strides)."""
    size = array.dtype.itemsize
    return View(array.base_data, array.offset // size, tuple(array.shape),
                tuple(s // size for s in array.strides), array.dtype)


def contiguous_strides(shape):
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


def broadcast(array_view, shape):
    """`array_view` broadcast to `shape` (NumPy rules) with stride 0 on broadcast dims."""
    lead = len(shape) - len(array_view.shape)
    strides = [0] * lead + [0 if d == 1 else s for d, s in
                            zip(array_view.shape, array_view.strides)]
    return array_view._replace(shape=tuple(shape), strides=tuple(strides))


def permute(array_view, perm):
    return array_view._replace(shape=tuple(array_view.shape[p] for p in perm),
                               strides=tuple(array_view.strides[p] for p in perm))


def slice_view(array_view, begin, end, steps):
    """Python slices begin:end:step per dimension (already normalised, steps may be < 0)."""
    offset, shape, strides = array_view.offset, [], []
    for b, e, step, stride in zip(begin, end, steps, array_view.strides):
        offset += b * stride
        shape.append(max(0, -(-(e - b) // step)) if step > 0 else max(0, -(-(b - e) // -step)))
        strides.append(stride * step)
    return array_view._replace(offset=offset, shape=tuple(shape), strides=tuple(strides))


def _collapse(shape, stride_sets):
    """Drop size-1 dims and merge neighbours that are contiguous in every operand."""
    dims = [d for d, n in enumerate(shape) if n != 1]
    out_shape, out_strides = [], [[] for _ in stride_sets]
    for d in dims:
        if out_shape and all(s[-1] == strides[d] * shape[d]
                             for s, strides in zip(out_strides, stride_sets)):
            out_shape[-1] *= shape[d]
            for s, strides in zip(out_strides, stride_sets):
                s[-1] = strides[d]
        else:
            out_shape.append(shape[d])
            for s, strides in zip(out_strides, stride_sets):
                s.append(strides[d])
    return out_shape, out_strides


@functools.lru_cache(maxsize=None)
def _source(expression, names, in_types, out_type, rank, itype, scalars, preamble, inner):
    """The strided kernel. `inner` holds each operand's innermost stride when it is 0 or 1
    (else None): written as a literal, it lets the compiler vectorise contiguous and broadcast
    operands instead of gathering."""
    operands = ("out",) + names
    params = [f"__global {out_type}* out", f"{itype} out_offset"]
    for name, ctype in zip(names, in_types):
        params += [f"__global const {ctype}* {name}_data", f"{itype} {name}_offset"]
    params += [f"{ctype} {name}" for ctype, name in scalars]
    params += [f"{itype} dim{d}" for d in range(1, rank)]
    for operand, literal in zip(operands, inner):
        params += [f"{itype} {operand}_stride{d}" for d in range(rank)
                   if d < rank - 1 or literal is None]
    lines = [f"{itype} rest = get_global_id(0);"]
    for d in range(rank - 1, 0, -1):
        lines.append(f"{itype} i{d} = rest % dim{d}; rest /= dim{d};")
    if rank:
        lines.append(f"{itype} i0 = rest;")
    for operand, literal in zip(operands, inner):
        strides = [f"{operand}_stride{d}" for d in range(rank)]
        if rank and literal is not None:
            strides[-1] = str(literal)
        terms = "".join(f" + i{d} * {stride}" for d, stride in enumerate(strides))
        lines.append(f"{itype} {operand}_at = {operand}_offset{terms};")
    for name, ctype in zip(names, in_types):  # half is stored, computed in float
        lines.append(f"const float {name} = vload_half({name}_at, {name}_data);" if ctype == "half"
                     else f"const {ctype} {name} = {name}_data[{name}_at];")
    lines.append(f"vstore_half((float)({expression}), out_at, out);" if out_type == "half" else
                 f"out[out_at] = ({out_type})({expression});")
    body = "\n    ".join(lines)
    return (f"{preamble}\n__kernel void strided(" + ", ".join(params) + ")\n{\n    "
            + body + "\n}\n")


def run(expression, names, inputs, out, scalars=(), preamble=""):
    """out[i] = expression(inputs[i]) over out's shape; inputs and out are Views of that shape.

    `names` name the inputs in the C expression; `scalars` are (dtype, name, value) kernel
    arguments, so an attribute such as LeakyRelu's alpha does not make a new program.
    float16 operands are loaded to float and stored back with vload_half/vstore_half, so they
    work on devices without cl_khr_fp16.
    """
    shape = out.shape
    size = math.prod(shape)
    if size == 0:
        return
    views = (out, *inputs)
    coll_shape, coll_strides = _collapse(shape, [v.strides for v in views])
    rank = len(coll_shape)
    extents = [size] + [abs(v.offset) + sum(abs(s) * (n - 1) for s, n in zip(v.strides, shape))
                        for v in views]
    itype = program.index_type(*extents)
    int_type = np.int32 if itype == "int" else np.int64
    inner = tuple(strides[-1] if rank and strides[-1] in (0, 1) else None
                  for strides in coll_strides)
    source = _source(expression, tuple(names), tuple(program.c_type(v.dtype) for v in inputs),
                     program.c_type(out.dtype), rank, itype,
                     tuple((program.compute_type(dt), name) for dt, name, _ in scalars), preamble,
                     inner)
    args = [out.data, int_type(out.offset)]
    for v in inputs:
        args += [v.data, int_type(v.offset)]
    args += [program.scalar(dt, value) for dt, _, value in scalars]
    args += [int_type(n) for n in coll_shape[1:]]
    for strides, literal in zip(coll_strides, inner):
        args += [int_type(s) for s in (strides if literal is None else strides[:-1])]
    program.launch(program.kernel(source, "strided"), (size,), None, *args)


def new(shape, dtype):
    """A new contiguous device array and its view."""
    array = program.empty(shape, dtype)
    return array, view(array)


def copy(source_view):
    """A contiguous copy of any view."""
    array, target = new(source_view.shape, source_view.dtype)
    run("x", ("x",), [source_view], target)
    return array


def contiguous(array):
    """`array` itself when C-contiguous, else a contiguous copy."""
    return array if array.flags.c_contiguous else copy(view(array))


def dense(array):
    """`array` when contiguous from the start of its buffer (usable as `.data`), else a copy."""
    return array if array.flags.c_contiguous and array.offset == 0 else copy(view(array))
