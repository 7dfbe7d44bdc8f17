"""CuPy elementwise kernels: CuPy's ufuncs where NumPy has one, one fused CUDA kernel otherwise.

Fused kernels (cupy.ElementwiseKernel, built on first use) are written for float, double and
integers; float16 inputs compute in float32 and round once at the end, as CUDA's math library
has no half-precision forms of tanh, erf or expm1.
"""
import collections
import functools
import math

from engine.backends import cupy_backend
from engine.kernel_names import BINARY, UNARY
from engine.registry import register_kernel

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


FusedSpec = collections.namedtuple("FusedSpec", "params output operation preamble")

# Every fused kernel's CUDA snippet, by name; tests/test_cuda_sources.py compiles them all.
FUSED_SPECS = {}


def define_fused(name, operation, params="T x", output="T y", preamble=""):
    """Declare a fused elementwise kernel (CuPy ElementwiseKernel syntax); returns its name."""
    FUSED_SPECS[name] = FusedSpec(params, output, operation, preamble)
    return name


@functools.cache
def fused(name):
    """The ElementwiseKernel declared as `name`: one pass over memory, compiled on first call."""
    spec = FUSED_SPECS[name]
    return cupy_backend.cp.ElementwiseKernel(spec.params, spec.output, spec.operation,
                                             f"engine_{name}", preamble=spec.preamble)


def run_fused(kernel, *args):
    """Run a fused kernel; float16 arrays compute in float32 and each result rounds once."""
    cp = cupy_backend.cp
    if not any(getattr(arg, "dtype", None) == cp.float16 for arg in args):
        return kernel(*args)
    widened = [arg.astype(cp.float32) if getattr(arg, "dtype", None) == cp.float16 else arg
               for arg in args]
    result = kernel(*widened)
    if type(result) is tuple:  # a kernel with several outputs
        return tuple(output.astype(cp.float16) for output in result)
    return result.astype(cp.float16)


def _fused_unary(name, operation):
    define_fused(name, operation)
    return lambda x: run_fused(fused(name), x)


_FUSED_UNARY = {
    "Sigmoid": "y = T(0.5) * (T(1) + tanh(T(0.5) * x))",
    "Elu": "y = x > T(0) ? x : expm1(x)",
    "Selu": f"y = T({_SELU_SCALE!r}) * (x > T(0) ? x : T({_SELU_ALPHA!r}) * expm1(x))",
    "Softplus": "y = (x > T(0) ? x : T(0)) + log1p(exp(-fabs(x)))",
    "Erf": "y = erf(x)",
    "Rsqrt": "y = T(1) / sqrt(x)",
    "Relu": "y = x < T(0) ? T(0) : x",  # written so NaN passes through, as in NumPy
    "Relu6": "y = x < T(0) ? T(0) : (x > T(6) ? T(6) : x)",
}


def _ufunc(name):
    return lambda x: getattr(cupy_backend.cp, name)(x)


_UFUNC_UNARY = {
    "Neg": "negative", "Abs": "abs", "Sign": "sign", "Exp": "exp", "Expm1": "expm1",
    "Log": "log", "Log1p": "log1p", "Sqrt": "sqrt", "Square": "square",
    "Reciprocal": "reciprocal", "Sin": "sin", "Cos": "cos", "Tanh": "tanh", "Floor": "floor",
    "Ceil": "ceil", "Round": "rint", "LogicalNot": "logical_not", "IsNan": "isnan",
    "IsFinite": "isfinite",
}


_UNARY_FUNCTIONS = {
    **{op: _ufunc(name) for op, name in _UFUNC_UNARY.items()},
    **{op: _fused_unary(op, operation) for op, operation in _FUSED_UNARY.items()},
}

_BINARY_UFUNCS = {
    "Add": "add", "Sub": "subtract", "Mul": "multiply", "Div": "true_divide",
    "FloorDiv": "floor_divide", "Mod": "mod", "Pow": "power", "Maximum": "maximum",
    "Minimum": "minimum", "Equal": "equal", "NotEqual": "not_equal", "Less": "less",
    "LessEqual": "less_equal", "Greater": "greater", "GreaterEqual": "greater_equal",
    "LogicalAnd": "logical_and", "LogicalOr": "logical_or",
}


def _binary_ufunc(name):
    return lambda a, b: getattr(cupy_backend.cp, name)(a, b)


_SQUARED_DIFFERENCE = define_fused("squared_difference", "T d = a - b; y = d * d", "T a, T b")


def _squared_difference(a, b):
    return run_fused(fused(_SQUARED_DIFFERENCE), a, b)


_BINARY_FUNCTIONS = {
    **{op: _binary_ufunc(name) for op, name in _BINARY_UFUNCS.items()},
    "SquaredDifference": _squared_difference,
}

assert set(_UNARY_FUNCTIONS) == set(UNARY) and set(_BINARY_FUNCTIONS) == set(BINARY)

for _op, _function in _UNARY_FUNCTIONS.items():
    register_kernel(_op, "cupy")(_function)
for _op, _function in _BINARY_FUNCTIONS.items():
    register_kernel(_op, "cupy")(_function)


_LEAKY_RELU = define_fused("leaky_relu", "y = x >= T(0) ? x : x * T(alpha)", "T x, float64 alpha")
_GELU_TANH = define_fused(
    "gelu_tanh",
    f"y = T(0.5) * x * (T(1) + tanh(T({math.sqrt(2 / math.pi)!r}) * (x + T(0.044715) * x * x * x)))")
_GELU_ERF = define_fused("gelu_erf", f"y = T(0.5) * x * (T(1) + erf(x * T({math.sqrt(0.5)!r})))")
_CLIP = define_fused("clip", "y = x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x)",
                     "T x, float64 lo, float64 hi")


@register_kernel("LeakyRelu", "cupy")
def leaky_relu(x, alpha):
    return run_fused(fused(_LEAKY_RELU), x, alpha)


@register_kernel("Gelu", "cupy")
def gelu(x, approximate):
    return run_fused(fused(_GELU_TANH if approximate else _GELU_ERF), x)


@register_kernel("Cast", "cupy")
def cast(x, dtype):
    return x.astype(dtype)


@register_kernel("ClipByValue", "cupy")
def clip_by_value(x, clip_min, clip_max):
    return run_fused(fused(_CLIP), x, clip_min, clip_max)


@register_kernel("Select", "cupy")
def select(condition, a, b):
    return cupy_backend.cp.where(condition, a, b)
