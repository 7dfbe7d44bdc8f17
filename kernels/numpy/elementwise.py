"""NumPy elementwise kernels: one line per op through two small factories."""
import math

import numpy as np

from engine.kernel_names import BINARY, UNARY
from engine.registry import register_kernel

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _erf(x):
    """erf without SciPy: math.erf per element for float64 (exact to the last bit), else
    Abramowitz-Stegun 7.1.26 (absolute error below 1.5e-7) computed in float32."""
    if x.dtype == np.float64:
        return np.vectorize(math.erf, otypes=[np.float64])(x)
    x32 = x.astype(np.float32, copy=False)
    t = 1.0 / (1.0 + 0.3275911 * np.abs(x32))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                         + t * 1.061405429))))
    return (np.sign(x32) * (1.0 - poly * np.exp(-x32 * x32))).astype(x.dtype, copy=False)


_UNARY_FUNCTIONS = {
    "Neg": np.negative,
    "Abs": np.abs,
    "Sign": np.sign,
    "Exp": np.exp,
    "Expm1": np.expm1,
    "Log": np.log,
    "Log1p": np.log1p,
    "Sqrt": np.sqrt,
    "Rsqrt": lambda x: np.reciprocal(np.sqrt(x)),
    "Square": np.square,
    "Reciprocal": np.reciprocal,
    "Sin": np.sin,
    "Cos": np.cos,
    "Tanh": np.tanh,
    "Sigmoid": lambda x: (0.5 * (1.0 + np.tanh(0.5 * x))).astype(x.dtype, copy=False),
    "Relu": lambda x: np.maximum(x, 0),  # a Python scalar never widens x's dtype
    "Relu6": lambda x: np.clip(x, 0, 6).astype(x.dtype, copy=False),
    "Elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(x.dtype, copy=False),
    "Selu": lambda x: (_SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
                       ).astype(x.dtype, copy=False),
    "Softplus": lambda x: np.logaddexp(np.zeros((), x.dtype), x),
    "Erf": _erf,
    "Floor": np.floor,
    "Ceil": np.ceil,
    "Round": np.rint,
    "LogicalNot": np.logical_not,
    "IsNan": np.isnan,
    "IsFinite": np.isfinite,
}


_BINARY_FUNCTIONS = {
    "Add": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "Div": np.true_divide,
    "FloorDiv": np.floor_divide,
    "Mod": np.mod,
    "Pow": np.power,
    "Maximum": np.maximum,
    "Minimum": np.minimum,
    "SquaredDifference": lambda a, b: np.square(np.subtract(a, b)),
    "Equal": np.equal,
    "NotEqual": np.not_equal,
    "Less": np.less,
    "LessEqual": np.less_equal,
    "Greater": np.greater,
    "GreaterEqual": np.greater_equal,
    "LogicalAnd": np.logical_and,
    "LogicalOr": np.logical_or,
}

assert set(_UNARY_FUNCTIONS) == set(UNARY) and set(_BINARY_FUNCTIONS) == set(BINARY)


# Ops that can divide by zero, leave their domain or overflow return inf/nan as TF.js does,
# without warnings.
_SILENCED = {"Div", "FloorDiv", "Mod", "Pow", "Log", "Log1p", "Sqrt", "Rsqrt", "Reciprocal",
             "Exp", "Expm1", "Square"}


def _quiet(function):
    """`function` run under np.errstate(ignore): the decorator form costs half the `with`."""
    return np.errstate(divide="ignore", invalid="ignore", over="ignore")(function)


def _register_unary(op, function):
    if op in _SILENCED:
        function = _quiet(function)

    @register_kernel(op, "numpy")
    def kernel(x):
        return np.asarray(function(x))


def _register_binary(op, function):
    if op in _SILENCED:
        quiet = _quiet(function)

        @register_kernel(op, "numpy")
        def kernel(a, b):
            return np.asarray(quiet(a, b))
    else:
        register_kernel(op, "numpy")(function)


for _op, _function in _UNARY_FUNCTIONS.items():
    _register_unary(_op, _function)
for _op, _function in _BINARY_FUNCTIONS.items():
    _register_binary(_op, _function)


@register_kernel("LeakyRelu", "numpy")
def leaky_relu(x, alpha):
    return np.where(x >= 0, x, x * np.asarray(alpha, x.dtype))


@register_kernel("Gelu", "numpy")
def gelu(x, approximate):
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)
        return (0.5 * x * (1.0 + np.tanh(inner))).astype(x.dtype, copy=False)
    return (0.5 * x * (1.0 + _erf(x / np.asarray(math.sqrt(2.0), x.dtype)))).astype(x.dtype,
                                                                                   copy=False)


@register_kernel("Cast", "numpy")
def cast(x, dtype):
    with np.errstate(invalid="ignore"):
        return x.astype(dtype)


@register_kernel("ClipByValue", "numpy")
def clip_by_value(x, clip_min, clip_max):
    return np.asarray(np.clip(x, clip_min, clip_max)).astype(x.dtype, copy=False)


@register_kernel("Select", "numpy")
def select(condition, a, b):
    return np.where(condition, a, b)
