"""Strided views and the one template every elementwise-shaped kernel is generated from.

A view is a DeviceArray: (buffer, offset, shape, strides) in elements. Transpose, slices,
reverse, broadcast and tile are views with other strides (negative or zero), so one strided
kernel per arity does elementwise math with broadcasting, copies and layout changes without
materialising anything.

Launches are planned once per layout: operands that are all contiguous from the start of their
buffers (the common case) take a plain `out[i] = f(a[i], ...)` kernel with nothing to compute
per call; other layouts cache their collapsed dims and strides by (shapes, strides).
"""
import functools

import numpy as np

from engine.backends.opencl_backend import contiguous_strides
from engine.kernels.opencl import program

__all__ = ["broadcast", "contiguous", "contiguous_strides", "copy", "dense", "dense_kernel",
           "permute", "run", "slice_view"]

_INT_LIMIT = 2 ** 30  # offsets, spans and sizes below this index with int
_PLANS = {}  # strided launches by layout
_DENSE = {}  # dense kernels by expression and dtypes


def broadcast(array, shape):
    """`array` broadcast to `shape` (NumPy rules) with stride 0 on broadcast dims."""
    if array.shape == shape:
        return array
    return array.view(shape, _broadcast_strides(array.shape, array.strides, shape))


@functools.lru_cache(maxsize=1024)
def _broadcast_strides(shape, strides, target):
    lead = len(target) - len(shape)
    return (0,) * lead + tuple(0 if d == 1 else s for d, s in zip(shape, strides))


def permute(array, perm):
    return array.view([array.shape[p] for p in perm], [array.strides[p] for p in perm])


def slice_view(array, begin, end, steps):
    """Python slices begin:end:step per dimension (already normalised, steps may be < 0)."""
    offset, shape, strides = array.offset, [], []
    for b, e, step, stride in zip(begin, end, steps, array.strides):
        offset += b * stride
        shape.append(max(0, -(-(e - b) // step)) if step > 0 else max(0, -(-(b - e) // -step)))
        strides.append(stride * step)
    return array.view(shape, strides, offset)


def _collapse(shape, stride_sets):
    """Drop size-1 dims and merge neighbours that are contiguous in every operand."""
    out_shape, out_strides = [], [[] for _ in stride_sets]
    for d, n in enumerate(shape):
        if n == 1:
            continue
        if out_shape and all(s[-1] == strides[d] * n for s, strides in zip(out_strides, stride_sets)):
            out_shape[-1] *= n
            for s, strides in zip(out_strides, stride_sets):
                s[-1] = strides[d]
        else:
            out_shape.append(n)
            for s, strides in zip(out_strides, stride_sets):
                s.append(strides[d])
    return out_shape, out_strides


def _loads_and_store(expression, names, in_types, out_type):
    """C lines reading each input at `{name}_at` and writing the result at `out_at`; half is
    stored, computed in float (vload_half/vstore_half need no cl_khr_fp16)."""
    lines = [f"const float {name} = vload_half({name}_at, {name}_data);" if ctype == "half"
             else f"const {ctype} {name} = {name}_data[{name}_at];"
             for name, ctype in zip(names, in_types)]
    lines.append(f"vstore_half((float)({expression}), out_at, out);" if out_type == "half" else
                 f"out[out_at] = ({out_type})({expression});")
    return lines


@functools.lru_cache(maxsize=None)
def _dense_source(expression, names, in_types, out_type, scalars, preamble):
    """The kernel for operands contiguous from index 0: element i of each, no index math."""
    params = [f"__global {out_type}* out"]
    params += [f"__global const {ctype}* {name}_data" for name, ctype in zip(names, in_types)]
    params += [f"{ctype} {name}" for ctype, name in scalars]
    lines = ["const size_t out_at = get_global_id(0);"]
    lines += [f"const size_t {name}_at = out_at;" for name in names]
    lines += _loads_and_store(expression, names, in_types, out_type)
    return (f"{preamble}\n__kernel void dense(" + ", ".join(params) + ")\n{\n    "
            + "\n    ".join(lines) + "\n}\n")


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
    lines += _loads_and_store(expression, names, in_types, out_type)
    return (f"{preamble}\n__kernel void strided(" + ", ".join(params) + ")\n{\n    "
            + "\n    ".join(lines) + "\n}\n")


def _numpy_type(ctype):
    return np.dtype(program.NUMPY_TYPES[ctype])


def _typed(source, name, arg_types):
    """The kernel with its scalar argument types declared (PyOpenCL then packs them fast)."""
    kernel = program.kernel(source, name)
    kernel.set_scalar_arg_dtypes(arg_types)
    return kernel


def dense_kernel(expression, names, in_dtypes, out_dtype, scalar_types=(), preamble=""):
    """The kernel for operands contiguous from the start of their buffers; its arguments are
    the output's buffer, each input's, then the scalars (see run)."""
    key = (expression, names, preamble, scalar_types, out_dtype, *in_dtypes)
    kernel = _DENSE.get(key)
    if kernel is None:
        source = _dense_source(expression, names, tuple(program.c_type(dt) for dt in in_dtypes),
                               program.c_type(out_dtype), scalar_types, preamble)
        types = [None] * (1 + len(names)) + [_numpy_type(c) for c, _ in scalar_types]
        kernel = _DENSE[key] = _typed(source, "dense", types)
    return kernel


def _strided_plan(expression, names, views, scalar_types, preamble, wide):
    """The strided kernel for these shapes and strides, and its trailing dim/stride args."""
    out, inputs = views[0], views[1:]
    coll_shape, coll_strides = _collapse(out.shape, [v.strides for v in views])
    rank = len(coll_shape)
    spans = [sum(abs(s) * (n - 1) for s, n in zip(v.strides, out.shape)) for v in views]
    itype = "long" if wide or max(out.size, *spans) >= _INT_LIMIT else "int"
    inner = tuple(strides[-1] if rank and strides[-1] in (0, 1) else None
                  for strides in coll_strides)
    source = _source(expression, names, tuple(program.c_type(v.dtype) for v in inputs),
                     program.c_type(out.dtype), rank, itype, scalar_types, preamble, inner)
    tail = list(coll_shape[1:])
    for strides, literal in zip(coll_strides, inner):
        tail += strides if literal is None else strides[:-1]
    index = _numpy_type(itype)
    types = [None, index] * len(views) + [_numpy_type(c) for c, _ in scalar_types]
    return _typed(source, "strided", types + [index] * len(tail)), tuple(tail)


def run(expression, names, inputs, out, scalars=(), preamble=""):
    """out[i] = expression(inputs[i]) over out's shape; inputs and out are views of that shape.

    `names` (a tuple) name the inputs in the C expression; `scalars` are (dtype, name, value) kernel
    arguments, so an attribute such as LeakyRelu's alpha does not make a new program.
    float16 operands are loaded to float and stored back with vload_half/vstore_half, so they
    work on devices without cl_khr_fp16.
    """
    size = out.size
    if size == 0:
        return
    scalar_types = values = ()
    if scalars:
        scalar_types = tuple((program.compute_type(dt), name) for dt, name, _ in scalars)
        values = [value for _, _, value in scalars]
    if out.dense and all([v.dense for v in inputs]):
        kernel = dense_kernel(expression, names, [v.dtype for v in inputs], out.dtype,
                              scalar_types, preamble)
        program.enqueue(kernel, (size,), None, (out.data, *[v.data for v in inputs], *values))
        return
    views = (out, *inputs)
    wide = max([v.offset for v in views]) >= _INT_LIMIT
    key = (expression, names, preamble, scalar_types, out.shape, wide,
           *[(v.dtype, v.strides) for v in views])
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) > 4096:  # layouts of a long session with ever new shapes
            _PLANS.clear()
        plan = _PLANS[key] = _strided_plan(expression, names, views, scalar_types, preamble,
                                           wide)
    args = []
    for v in views:
        args += (v.data, v.offset)
    program.enqueue(plan[0], (size,), None, (*args, *values, *plan[1]))


def copy(source):
    """A contiguous copy of any view."""
    target = program.empty(source.shape, source.dtype)
    run("x", ("x",), [source], target)
    return target


def contiguous(array):
    """`array` itself when C-contiguous, else a contiguous copy."""
    return array if array.c_contiguous else copy(array)


def dense(array):
    """`array` when contiguous from the start of its buffer (usable as `.data`), else a copy."""
    return array if array.dense else copy(array)
