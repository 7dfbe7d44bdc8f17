"""OpenCL reductions over any axis set; the kernel's shape follows the input's layout.

PoCL runs a work-group's work-items in a loop on one core and does not vectorise strided loads
across them, so each work-item here reduces by itself with 16-wide vector loads into private
accumulators (a 1024x1024 sum: 3-7 ms as work-group tree reductions, about 0.1 ms this way):

- run: a reduced axis has stride 1; a work-item per output walks that contiguous run.
- lanes: a kept axis has stride 1; a work-item per 64 adjacent outputs walks the reduced
  elements, its vector lanes being those outputs.
Any other layout (no axis of stride 1) is first copied contiguous. A long reduction with few
outputs is split into parts reduced in parallel; the (parts, outputs) partials are reduced again.
"""
import functools

import numpy as np

from engine.kernel_names import REDUCTIONS
from engine.kernels.opencl import program, strided
from engine.registry import register_kernel

# op: (combine of accumulators a and b (None: arg-reductions compare instead), neutral element
# for floats, for ints)
_COMBINE = {
    "Sum": ("a + b", "0", "0"),
    "Mean": ("a + b", "0", "0"),
    "Prod": ("a * b", "1", "1"),
    "Max": ("((a > b || a != a) ? a : b)", "-INFINITY", "{min}"),
    "Min": ("((a < b || a != a) ? a : b)", "INFINITY", "{max}"),
    "All": ("a & b", "1", "1"),  # bools are 0 or 1
    "Any": ("a | b", "0", "0"),
    "ArgMax": (None, "-INFINITY", "{min}"),
    "ArgMin": (None, "INFINITY", "{max}"),
}
_INT_LIMITS = {"int": ("INT_MIN", "INT_MAX"), "long": ("LONG_MIN", "LONG_MAX"),
               "uchar": ("0", "1")}
_VECTOR = 16       # elements per vector load
_LANES = 64        # adjacent outputs per work-item of the lanes kernel (4 vectors)
_PARALLEL = 8      # work-items wanted at least (a few per core) ...
_MIN_PART = 1 << 14  # ... each reading this many elements at least


def _preamble(op, in_type, acc_type, out_type):
    """Macros the kernels are written in: COMBINE, BETTER (arg-reductions), NEUTRAL, LOAD,
    LOADV (16 elements from p + k), STORE and FINISH (Mean divides by `count`)."""
    combine, float_neutral, int_neutral = _COMBINE[op]
    low, high = _INT_LIMITS.get(acc_type, ("0", "0"))
    neutral = float_neutral if acc_type in ("float", "double") else int_neutral.format(
        min=low, max=high)
    compare = "<" if op == "ArgMin" else ">"
    if in_type == "half":
        loads = ["#define LOAD(k, p) vload_half(k, p)", "#define LOADV(k, p) vload_half16(0, (p) + (k))"]
    else:
        loads = ["#define LOAD(k, p) (p)[k]", "#define LOADV(k, p) vload16(0, (p) + (k))"]
    store = ("vstore_half(v, i, out)" if out_type == "half" else f"out[i] = ({out_type})(v)")
    return "\n".join([
        f"#define COMBINE(a, b) ({combine})" if combine else "",
        f"#define BETTER(b, a) ((b {compare} a) || (b != b && a == a))",
        f"#define NEUTRAL ({acc_type})({neutral})",
        *loads,
        f"#define STORE(v, i) {store}",
        "#define FINISH(a) ((a) / count)" if op == "Mean" else "#define FINISH(a) (a)",
        f"typedef {acc_type} acc_t;",
        f"typedef {acc_type}16 accv_t;",
        f"typedef {in_type} in_t;",
        f"typedef {out_type} out_t;"]) + "\n"


def _coordinates(prefix, rank, itype, flat):
    """C lines turning the flat index `flat` into {prefix}at over dims {prefix}dim*/stride*
    (and {prefix}out_at over {prefix}ostride* when out_strides); the outermost needs no %."""
    lines = [f"{itype} {prefix}rest = {flat}, {prefix}at = 0;"]
    for d in range(rank - 1, -1, -1):
        index = f"({prefix}rest % {prefix}dim{d})" if d else f"{prefix}rest"
        lines.append(f"{itype} {prefix}i{d} = {index}; {prefix}at += {prefix}i{d} * "
                     f"{prefix}stride{d};" + (f" {prefix}rest /= {prefix}dim{d};" if d else ""))
    return lines


def _dims(prefix, rank, itype, out_strides=False):
    kinds = ("dim", "stride", "ostride") if out_strides else ("dim", "stride")
    return [f"{itype} {prefix}{kind}{d}" for kind in kinds for d in range(rank)]


@functools.lru_cache(maxsize=None)
def _run_source(op, in_type, acc_type, out_type, kept_rank, outer_rank, itype):
    """A work-item per (output, part): vector loads along the stride-1 run into two
    accumulators, the outer reduced dims looped around it in units of (row, segment of the run)."""
    params = ["__global const in_t* x", f"{itype} x_offset", "__global out_t* out",
              f"{itype} outputs", f"{itype} parts", f"{itype} units", f"{itype} unit_chunk",
              f"{itype} segments", f"{itype} segment", f"{itype} run", "acc_t count"]
    params += _dims("k", kept_rank, itype) + _dims("r", outer_rank, itype)
    lines = [f"{itype} id = get_global_id(0);",
             "if (id >= outputs * parts) return;",
             f"{itype} o = id / parts, part = id % parts;"]
    lines += _coordinates("k", kept_rank, itype, "o")
    lines += ["__global const in_t* start = x + x_offset + kat;", "acc_t acc = NEUTRAL;"]
    if op in ("ArgMax", "ArgMin"):  # one axis, no parts: a scalar walk keeps the first best
        lines += ["int best = 0;",
                  f"for ({itype} k = 0; k < run; ++k) {{",
                  "    acc_t b = LOAD(k, start);",
                  "    if (BETTER(b, acc)) { acc = b; best = k; }",
                  "}",
                  "out[o] = best;"]
    else:
        lines += ["accv_t vacc = (accv_t)(NEUTRAL), vacc2 = vacc;  // two loads in flight",
                  f"{itype} last = min(units, (part + 1) * unit_chunk);",
                  f"for ({itype} u = part * unit_chunk; u < last; ++u) {{",
                  f"    {itype} begin = (u % segments) * segment;",
                  f"    {itype} end = min(run, begin + segment), k = begin;"]
        lines += ["    " + line for line in _coordinates("r", outer_rank, itype, "u / segments")]
        lines += ["    __global const in_t* p = start + rat;",
                  f"    for (; k + {2 * _VECTOR} <= end; k += {2 * _VECTOR}) {{",
                  "        vacc = COMBINE(vacc, LOADV(k, p));",
                  f"        vacc2 = COMBINE(vacc2, LOADV(k + {_VECTOR}, p));",
                  "    }",
                  f"    for (; k + {_VECTOR} <= end; k += {_VECTOR}) "
                  "vacc = COMBINE(vacc, LOADV(k, p));",
                  "    for (; k < end; ++k) acc = COMBINE(acc, LOAD(k, p));",
                  "}",
                  "vacc = COMBINE(vacc, vacc2);"]
        width = _VECTOR
        vector = "vacc"
        while width > 1:  # fold the vector's halves together
            width //= 2
            half = f"h{width}"
            kind = f"{acc_type}{width}" if width > 1 else "acc_t"
            lines.append(f"{kind} {half} = COMBINE({vector}.lo, {vector}.hi);")
            vector = half
        lines += ["acc = COMBINE(acc, h1);", "STORE(FINISH(acc), part * outputs + o);"]
    return ("__kernel void reduce_run(" + ", ".join(params) + ")\n{\n    "
            + "\n    ".join(lines) + "\n}\n")


@functools.lru_cache(maxsize=None)
def _lanes_source(op, in_type, acc_type, out_type, kept_rank, reduced_rank, itype):
    """A work-item per (64 adjacent outputs along the stride-1 kept axis, part): four vector
    accumulators walk the reduced elements; a last partial block goes output by output."""
    with_index = op in ("ArgMax", "ArgMin")
    params = ["__global const in_t* x", f"{itype} x_offset", "__global out_t* out",
              f"{itype} outputs", f"{itype} parts", f"{itype} work", f"{itype} lane_size",
              f"{itype} lane_blocks", f"{itype} lane_ostride", f"{itype} reduce_size",
              f"{itype} chunk", "acc_t count"]
    params += _dims("k", kept_rank, itype, out_strides=True) + _dims("r", reduced_rank, itype)
    vectors = _LANES // _VECTOR
    lines = [f"{itype} id = get_global_id(0);",
             "if (id >= work) return;",
             f"{itype} part = id % parts, rest = id / parts;",
             f"{itype} lane0 = (rest % lane_blocks) * {_LANES};"]
    lines += _coordinates("k", kept_rank, itype, "rest / lane_blocks")
    lines += [f"{itype} kout = 0;"] + [f"kout += ki{d} * kostride{d};" for d in range(kept_rank)]
    lines += ["__global const in_t* start = x + x_offset + kat + lane0;",
              f"{itype} o0 = part * outputs + kout + lane0 * lane_ostride;",
              f"{itype} first = part * chunk, last = min(reduce_size, first + chunk);",
              f"if (lane0 + {_LANES} <= lane_size) {{"]
    body = []
    for v in range(vectors):
        body.append(f"accv_t a{v} = (accv_t)(NEUTRAL);")
        if with_index:
            body.append(f"int16 b{v} = (int16)(0);")
    body.append(f"for ({itype} r = first; r < last; ++r) {{")
    body += ["    " + line for line in _coordinates("r", reduced_rank, itype, "r")]
    for v in range(vectors):
        if with_index:
            body += [f"    accv_t v{v} = LOADV({v * _VECTOR}, start + rat);",
                     f"    b{v} = select(b{v}, (int16)((int)r), convert_int16(BETTER(v{v}, a{v})));",
                     f"    a{v} = select(a{v}, v{v}, BETTER(v{v}, a{v}));"]
        else:
            body.append(f"    a{v} = COMBINE(a{v}, LOADV({v * _VECTOR}, start + rat));")
    body.append("}")
    kept = "int" if with_index else "acc_t"
    body.append(f"{kept} lanes[{_LANES}];")
    body += [f"vstore16({'b' if with_index else 'a'}{v}, {v}, lanes);" for v in range(vectors)]
    body.append(f"for (int j = 0; j < {_LANES}; ++j) "
                + ("out[o0 + j * lane_ostride] = lanes[j];" if with_index else
                   "STORE(FINISH(lanes[j]), o0 + j * lane_ostride);"))
    lines += ["    " + line for line in body]
    lines += ["} else {",
              f"    for ({itype} j = 0; lane0 + j < lane_size; ++j) {{",
              "        acc_t acc = NEUTRAL;"]
    if with_index:
        lines.append("        int best = 0;")
    lines.append(f"        for ({itype} r = first; r < last; ++r) {{")
    lines += ["            " + line for line in _coordinates("r", reduced_rank, itype, "r")]
    if with_index:
        lines += ["            acc_t b = LOAD(rat + j, start);",
                  "            if (BETTER(b, acc)) { acc = b; best = r; }"]
    else:
        lines.append("            acc = COMBINE(acc, LOAD(rat + j, start));")
    lines += ["        }",
              "        " + ("out[o0 + j * lane_ostride] = best;" if with_index else
                           "STORE(FINISH(acc), o0 + j * lane_ostride);"),
              "    }", "}"]
    return ("__kernel void reduce_lanes(" + ", ".join(params) + ")\n{\n    "
            + "\n    ".join(lines) + "\n}\n")


def _merge(dims):
    """(size, stride) dims without size-1 ones, neighbours merged where one stride spans both."""
    merged = []
    for n, s in dims:
        if n == 1:
            continue
        if merged and merged[-1][1] == s * n:
            merged[-1] = (merged[-1][0] * n, s)
        else:
            merged.append((n, s))
    return merged


def launch_items(kernel, work, *args):
    """Enqueue `work` work-items (the kernel returns for ids past `work`) in groups of 16, or of
    1 when there are few, so that every core gets some."""
    local = 16 if work >= 512 else 1
    program.launch(kernel, (-(-work // local) * local,), (local,), *args)


def _parts(work_items, elements_each, with_index):
    """How many parts to split each output's reduction into, so that the cores have work."""
    if with_index or not work_items or work_items >= _PARALLEL:
        return 1
    return max(1, min(-(-_PARALLEL // work_items), elements_each // _MIN_PART))


def _reduce_view(op, source, kept_axes, reduced_axes, out_shape, out_dtype, count=None):
    """Reduce `source` (any view) over reduced_axes; returns a contiguous array of out_shape."""
    kept = _merge([(source.shape[d], source.strides[d]) for d in kept_axes])
    reduced = _merge([(source.shape[d], source.strides[d]) for d in reduced_axes])
    outputs = int(np.prod([n for n, _ in kept], dtype=np.int64))
    reduce_size = int(np.prod([n for n, _ in reduced], dtype=np.int64))
    if reduce_size == 0 or (source.size == 1 and not reduced):
        reduced = [(reduce_size, 1)]  # no elements to read, or a run of one
    run = [d for d, (_, s) in enumerate(reduced) if s == 1]
    lane = [d for d, (_, s) in enumerate(kept) if s == 1]
    if not run and not lane:
        return _reduce_view(op, strided.copy(source), kept_axes, reduced_axes, out_shape,
                            out_dtype, count)
    in_type = program.c_type(source.dtype)
    acc_type = program.compute_type(source.dtype)
    span = sum(abs(s) * (n - 1) for n, s in kept + reduced)
    itype = program.index_type(outputs * _PARALLEL, reduce_size, source.offset + span + 1)
    index = np.int32 if itype == "int" else np.int64
    with_index = op in ("ArgMax", "ArgMin")
    count = program.scalar(source.dtype, (count or reduce_size) if op == "Mean" else 0)
    if run:
        run_size, _ = reduced.pop(run[0])
        outer = int(np.prod([n for n, _ in reduced], dtype=np.int64))
        parts = _parts(outputs, reduce_size, with_index)
        segments = -(-parts // outer) if outer < parts else 1
        segment = -(-run_size // segments // _VECTOR) * _VECTOR if segments > 1 else run_size
        segments = -(-run_size // segment) if segment else 1
        unit_chunk = -(-outer * segments // parts)
    else:
        out_strides = [int(np.prod([n for n, _ in kept[d + 1:]], dtype=np.int64))
                       for d in range(len(kept))]
        lane_ostride = out_strides.pop(lane[0])
        lane_size, _ = kept.pop(lane[0])
        lane_blocks = -(-lane_size // _LANES)
        others = outputs // lane_size
        parts = _parts(others * lane_blocks, reduce_size * min(lane_size, _LANES), with_index)
        chunk = -(-reduce_size // parts)
    stage_op = "Sum" if (op == "Mean" and parts > 1) else op
    stage_dtype = out_dtype if parts == 1 else np.dtype(program.NUMPY_TYPES[acc_type])
    out = program.empty((parts * outputs,), stage_dtype)
    code = _preamble(stage_op, in_type, acc_type, program.c_type(stage_dtype))
    dims = [index(n) for n, _ in kept] + [index(s) for _, s in kept]
    if run:
        code += _run_source(stage_op, in_type, acc_type, program.c_type(stage_dtype),
                            len(kept), len(reduced), itype)
        args = [index(v) for v in (outputs, parts, outer * segments, unit_chunk, segments,
                                   segment, run_size)]
        dims += [index(n) for n, _ in reduced] + [index(s) for _, s in reduced]
        launch_items(program.kernel(code, "reduce_run"), outputs * parts, source.data,
                     index(source.offset), out.data, *args, count, *dims)
    else:
        code += _lanes_source(stage_op, in_type, acc_type, program.c_type(stage_dtype),
                              len(kept), len(reduced), itype)
        work = others * lane_blocks * parts
        args = [index(v) for v in (outputs, parts, work, lane_size, lane_blocks, lane_ostride,
                                   reduce_size, chunk)]
        dims += [index(s) for s in out_strides]
        dims += [index(n) for n, _ in reduced] + [index(s) for _, s in reduced]
        launch_items(program.kernel(code, "reduce_lanes"), work, source.data,
                     index(source.offset), out.data, *args, count, *dims)
    if parts > 1:
        partial = out.reshape(parts, outputs)
        out = _reduce_view(op, partial, (1,), (0,), (outputs,), out_dtype, reduce_size)
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


for _op in REDUCTIONS:
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
