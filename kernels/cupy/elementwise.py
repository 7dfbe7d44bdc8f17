"""CuPy elementwise kernels: CuPy's ufuncs where NumPy has one, one fused CUDA kernel otherwise.

Fused kernels (cupy.ElementwiseKernel, built on first use) are written for float, double and
integers; float16 inputs compute in float32 and round once at the end, as CUDA's math library
has no half-precision forms of tanh, erf or expm1.
"""
import functools
import math

from engine.backends import cupy_backend
from engine.kernel_names import BINARY, UNARY
from engine.registry import register_kernel

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


@functools.cache
def fused(name, operation, params="T x", output="T y"):
    """A cached ElementwiseKernel: one pass over memory, compiled on first call."""
    return cupy_backend.cp.ElementwiseKernel(params, output, operation, f"engine_{name}")


def run_fused(kernel, *args):
    """Run a fused kernel; float16 arrays compute in float32 and the result rounds once."""
    cp = cupy_backend.cp
    if not any(getattr(arg, "dtype", None) == cp.float16 for arg in args):
        return kernel(*args)
    widened = [arg.astype(cp.float32) if getattr(arg, "dtype", None) == cp.float16 else arg
               for arg in args]
    return kernel(*widened).astype(cp.float16)


def _fused_unary(name, operation):
    return lambda x: run_fused(fused(name, operation), x)


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


def _squared_difference(a, b):
    return run_fused(fused("squared_difference", "T d = a - b; y = d * d", "T a, T b"), a, b)


_BINARY_FUNCTIONS = {
    **{op: _binary_ufunc(name) for op, name in _BINARY_UFUNCS.items()},
    "SquaredDifference": _squared_difference,
}

assert set(_UNARY_FUNCTIONS) == set(UNARY) and set(_BINARY_FUNCTIONS) == set(BINARY)

for _op, _function in _UNARY_FUNCTIONS.items():
    register_kernel(_op, "cupy")(_function)
for _op, _function in _BINARY_FUNCTIONS.items():
    register_kernel(_op, "cupy")(_function)


@register_kernel("LeakyRelu", "cupy")
def leaky_relu(x, alpha):
    kernel = fused("leaky_relu", "y = x >= T(0) ? x : x * T(alpha)", "T x, float64 alpha")
    return run_fused(kernel, x, alpha)


@register_kernel("Gelu", "cupy")
def gelu(x, approximate):
    if approximate:
        kernel = fused("gelu_tanh", f"y = T(0.5) * x * (T(1) + tanh(T({math.sqrt(2 / math.pi)!r}) "
                                    "* (x + T(0.044715) * x * x * x)))")
    else:
        kernel = fused("gelu_erf", f"y = T(0.5) * x * (T(1) + erf(x * T({math.sqrt(0.5)!r})))")
    return run_fused(kernel, x)


@register_kernel("Cast", "cupy")
def cast(x, dtype):
    return x.astype(dtype)


@register_kernel("ClipByValue", "cupy")
def clip_by_value(x, clip_min, clip_max):
    kernel = fused("clip", "y = x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x)",
                   "T x, float64 lo, float64 hi")
    return run_fused(kernel, x, clip_min, clip_max)


@register_kernel("Select", "cupy")
def select(condition, a, b):
    return cupy_backend.cp.where(condition, a, b)
