"""OpenCL elementwise kernels generated from one-line C expressions, one template per arity.

Each table entry is the C expression of an op over `x` (unary) or `a`, `b` (binary); `T` is the
C type of the inputs. Entries that differ for integers are (float expression, int expression).
Inputs broadcast through zero strides (strided.run), never by materialising copies.
"""
import functools

import numpy as np

from engine.backends.opencl_backend import DeviceArray
from engine.kernel_names import BINARY, UNARY
from engine.kernels.opencl import program, strided
from engine.registry import register_kernel

_SELU_ALPHA = "1.6732632423543772848170429916717"
_SELU_SCALE = "1.0507009873554804934193349852946"

UNARY_EXPRESSIONS = {
    "Neg": "-x",
    "Abs": ("fabs(x)", "(x < 0 ? -x : x)"),
    "Sign": "(T)((x > 0) - (x < 0))",
    "Exp": "exp(x)",
    "Expm1": "expm1(x)",
    "Log": "log(x)",
    "Log1p": "log1p(x)",
    "Sqrt": "sqrt(x)",
    "Rsqrt": "(T)1 / sqrt(x)",
    "Square": "x * x",
    "Reciprocal": "(T)1 / x",
    "Sin": "sin(x)",
    "Cos": "cos(x)",
    "Tanh": "tanh(x)",
    "Sigmoid": "(T)0.5 * ((T)1 + tanh((T)0.5 * x))",
    "Relu": "(x > 0 ? x : (T)0)",
    "Relu6": "(x > 0 ? (x < 6 ? x : (T)6) : (T)0)",
    "Elu": "(x > 0 ? x : expm1(x))",
    "Selu": f"(T){_SELU_SCALE} * (x > 0 ? x : (T){_SELU_ALPHA} * expm1(x))",
    "Softplus": "fmax(x, (T)0) + log1p(exp(-fabs(x)))",
    "Erf": "erf(x)",
    "Floor": ("floor(x)", "x"),
    "Ceil": ("ceil(x)", "x"),
    "Round": ("rint(x)", "x"),
    "LogicalNot": "!x",
    "IsNan": ("isnan(x)", "0"),
    "IsFinite": ("isfinite(x)", "1"),
}

_FLOAT_MOD = "(fmod(a, b) != 0 && ((fmod(a, b) < 0) != (b < 0)) ? fmod(a, b) + b : fmod(a, b))"
_INT_MOD = "(b == 0 ? 0 : ((a % b) != 0 && ((a % b < 0) != (b < 0)) ? a % b + b : a % b))"

BINARY_EXPRESSIONS = {
    "Add": "a + b",
    "Sub": "a - b",
    "Mul": "a * b",
    "Div": ("a / b", "(b == 0 ? 0 : a / b)"),
    "FloorDiv": ("floor(a / b)",
                 "(b == 0 ? 0 : a / b - ((a % b) != 0 && ((a < 0) != (b < 0))))"),
    "Mod": (_FLOAT_MOD, _INT_MOD),
    "Pow": ("pow(a, b)", "int_pow(a, b)"),
    "Maximum": "((a > b || a != a) ? a : b)",
    "Minimum": "((a < b || a != a) ? a : b)",
    "SquaredDifference": "(a - b) * (a - b)",
    "Equal": "a == b",
    "NotEqual": "a != b",
    "Less": "a < b",
    "LessEqual": "a <= b",
    "Greater": "a > b",
    "GreaterEqual": "a >= b",
    "LogicalAnd": "a && b",
    "LogicalOr": "a || b",
}

_BOOL_RESULT = {"LogicalNot", "IsNan", "IsFinite", "Equal", "NotEqual", "Less", "LessEqual",
                "Greater", "GreaterEqual", "LogicalAnd", "LogicalOr"}

# Integer power by squaring; negative exponents give 0 (NumPy raises, TF.js truncates).
_INT_POW = """
#define DEFINE_INT_POW(T) \\
T int_pow(T a, T b) { T r = 1; if (b < 0) return a == 1 ? 1 : 0; \\
  while (b) { if (b & 1) r *= a; a *= a; b >>= 1; } return r; }
"""

assert set(UNARY_EXPRESSIONS) == set(UNARY) and set(BINARY_EXPRESSIONS) == set(BINARY)


def _expression(entry, dtype):
    """The C expression of a table entry for inputs of `dtype`, with T spelled out."""
    if isinstance(entry, tuple):
        entry = entry[0] if dtype.kind == "f" else entry[1]
    return entry.replace("(T)", f"({program.compute_type(dtype)})")


def _preamble(expression, dtype):
    if "int_pow" not in expression:
        return ""
    return _INT_POW + f"DEFINE_INT_POW({program.compute_type(dtype)})\n"


def map_arrays(expression, names, arrays, out_dtype, scalars=(), preamble=""):
    """A new array of the broadcast shape with `expression` applied elementwise."""
    shape = arrays[0].shape
    if [a for a in arrays if a.shape != shape]:
        shape = _broadcast_shape(tuple([a.shape for a in arrays]))
        arrays = [strided.broadcast(a, shape) for a in arrays]
    out = program.empty(shape, out_dtype)
    strided.run(expression, names, arrays, out, scalars, preamble)
    return out


@functools.lru_cache(maxsize=1024)
def _broadcast_shape(shapes):
    """NumPy's broadcast of a tuple of shapes (cached: a model broadcasts the same few)."""
    rank = max(len(s) for s in shapes)
    out = [1] * rank
    for shape in shapes:
        for d, n in enumerate(shape, rank - len(shape)):
            out[d] = n if out[d] == 1 else out[d]
    return tuple(out)


class _Specialised:
    """A table op's C expression, preamble and output dtype for inputs of one dtype, with its
    dense kernel once built, and the pool and queue its launches use."""

    __slots__ = ("expression", "names", "dtype", "out_dtype", "out_itemsize", "preamble",
                 "dense_kernel", "allocate", "queue")

    def __init__(self, op, entry, names, dtype):
        self.expression = _expression(entry, dtype)
        self.preamble = _preamble(self.expression, dtype)
        self.out_dtype = np.dtype(bool) if op in _BOOL_RESULT else dtype
        self.out_itemsize = self.out_dtype.itemsize
        self.names = names
        self.dtype = dtype
        self.dense_kernel = None  # built on the first dense call
        self.allocate = program.backend().pool.allocate
        self.queue = program.backend().queue

    def build_dense(self):
        self.dense_kernel = strided.dense_kernel(
            self.expression, self.names, (self.dtype,) * len(self.names), self.out_dtype,
            preamble=self.preamble)
        return self.dense_kernel

    def general(self, arrays):
        """Broadcast, strided, offset, mixed-dtype or empty operands."""
        return map_arrays(self.expression, self.names, arrays, self.out_dtype,
                          preamble=self.preamble)


class _TableOp:
    """The opencl kernel of a table op; `unary` or `binary` is what gets registered. Inputs of one
    shape and dtype, each contiguous from the start of its buffer (the common case), go straight
    to the dense kernel: the output comes from the pool and the buffers are set one by one
    (half the cost of Kernel.set_args), so a tiny tensor's op costs little more than its launch.
    One method per arity and no loops: on 8 floats, a loop over the operands or one more Python
    call costs as much as setting an argument."""

    __slots__ = ("op", "entry", "names", "by_dtype")

    def __init__(self, op, entry, names):
        self.op, self.entry, self.names = op, entry, names
        self.by_dtype = {}

    def specialise(self, dtype):
        found = self.by_dtype[dtype] = _Specialised(self.op, self.entry, self.names, dtype)
        return found

    def unary(self, x):
        found = self.by_dtype.get(x.dtype) or self.specialise(x.dtype)
        size = x.size
        if not (size and x.dense):
            return found.general((x,))
        kernel = found.dense_kernel or found.build_dense()
        buffer = found.allocate(size * found.out_itemsize)
        kernel.set_arg(0, buffer)
        kernel.set_arg(1, x.data)
        program.enqueue_set(found.queue, kernel, (size,), None)
        return DeviceArray(buffer, x.shape, found.out_dtype)

    def binary(self, a, b):
        found = self.by_dtype.get(a.dtype) or self.specialise(a.dtype)
        size = a.size
        if not (size and a.dense and b.dense and a.shape == b.shape and a.dtype is b.dtype):
            return found.general((a, b))
        kernel = found.dense_kernel or found.build_dense()
        buffer = found.allocate(size * found.out_itemsize)
        kernel.set_arg(0, buffer)
        kernel.set_arg(1, a.data)
        kernel.set_arg(2, b.data)
        program.enqueue_set(found.queue, kernel, (size,), None)
        return DeviceArray(buffer, a.shape, found.out_dtype)


for _op, _entry in UNARY_EXPRESSIONS.items():
    register_kernel(_op, "opencl")(_TableOp(_op, _entry, ("x",)).unary)
for _op, _entry in BINARY_EXPRESSIONS.items():
    register_kernel(_op, "opencl")(_TableOp(_op, _entry, ("a", "b")).binary)


@register_kernel("LeakyRelu", "opencl")
def leaky_relu(x, alpha):
    return map_arrays("(x >= 0 ? x : alpha * x)", ("x",), [x], x.dtype,
                      scalars=[(x.dtype, "alpha", alpha)])


_GELU_EXACT = "(T)0.5 * x * ((T)1 + erf(x * (T)0.70710678118654752440))"
_GELU_TANH = ("(T)0.5 * x * ((T)1 + tanh((T)0.79788456080286535588 * "
              "(x + (T)0.044715 * x * x * x)))")


@register_kernel("Gelu", "opencl")
def gelu(x, approximate):
    expression = _expression(_GELU_TANH if approximate else _GELU_EXACT, x.dtype)
    return map_arrays(expression, ("x",), [x], x.dtype)


@register_kernel("Cast", "opencl")
def cast(x, dtype):
    if dtype == "bool":
        return map_arrays("x != 0", ("x",), [x], dtype)
    if x.dtype.kind == "f" and dtype in ("int32", "int64"):  # NaN and overflow give 0 in C
        return map_arrays("(isnan(x) ? 0 : x)", ("x",), [x], dtype)
    return map_arrays("x", ("x",), [x], dtype)


@register_kernel("ClipByValue", "opencl")
def clip_by_value(x, clip_min, clip_max):
    return map_arrays("(x < low ? low : (x > high ? high : x))", ("x",), [x], x.dtype,
                      scalars=[(x.dtype, "low", clip_min), (x.dtype, "high", clip_max)])


@register_kernel("Select", "opencl")
def select(condition, a, b):
    return map_arrays("(c ? a : b)", ("c", "a", "b"), [condition, a, b], a.dtype)
