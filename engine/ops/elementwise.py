"""Elementwise ops: unary and binary (NumPy broadcasting), with their gradients beside them."""
import functools
import math

import numpy as np

from engine import dtypes
from engine.dispatch import run_binary_kernel, run_kernel
from engine.ops.convert import convert_to_tensor, scalar_operand
from engine.registry import register_gradient
from engine.tensor import Tensor

__all__ = [
    "neg",
    "abs",
    "sign",
    "exp",
    "expm1",
    "log",
    "log1p",
    "sqrt",
    "rsqrt",
    "square",
    "reciprocal",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "relu6",
    "elu",
    "selu",
    "softplus",
    "erf",
    "floor",
    "ceil",
    "round",
    "logical_not",
    "is_nan",
    "is_finite",
    "add",
    "sub",
    "mul",
    "floor_div",
    "mod",
    "pow",
    "maximum",
    "minimum",
    "squared_difference",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "leaky_relu",
    "gelu",
    "cast",
    "clip",
    "div",
    "where",
]


# ---------------------------------------------------------------------------- validation

@functools.lru_cache(maxsize=4096)
def broadcast_shapes(op_name, shape_a, shape_b):
    """NumPy's broadcast of two shapes, or a ValueError naming the op and both shapes."""
    rank = max(len(shape_a), len(shape_b))
    padded_a = (1,) * (rank - len(shape_a)) + shape_a
    padded_b = (1,) * (rank - len(shape_b)) + shape_b
    out = []
    for da, db in zip(padded_a, padded_b):
        if da != db and da != 1 and db != 1:
            raise ValueError(f"Error in {op_name}: operands could not be broadcast together "
                             f"with shapes {shape_a} and {shape_b}")
        out.append(db if da == 1 else da)
    return tuple(out)


# What an op accepts, as sets of NumPy dtype kinds: `native.dtype.kind in kinds` is one cheap
# check on the dispatch path, where calling a `require` function per op costs more than the add.
NUMERIC = frozenset("fiu")  # arithmetic on bool tensors is refused (NumPy would give bool or int8)
FLOATING = frozenset("f")
BOOLEAN = frozenset("b")
ANY_DTYPE = frozenset("fiub")

_REFUSALS = {
    NUMERIC: "expected a numeric tensor, got {}; cast it first",
    FLOATING: "expected a floating-point tensor, got {}",
    BOOLEAN: "expected a bool tensor, got {}",
}


def native_dtypes(kinds):
    """The native dtypes of the engine's dtypes of `kinds`: one set lookup per call, where
    `dtype.kind in kinds` costs twice that on a tiny tensor's dispatch path."""
    return frozenset(np.dtype(name) for name in dtypes.ALL if np.dtype(name).kind in kinds)


def require_kind(op_name, dtype, kinds):
    """Raise a TypeError naming the op unless dtype (a name) is of one of `kinds`."""
    if np.dtype(dtype).kind not in kinds:
        raise dtype_refused(op_name, dtype, kinds)


def dtype_refused(op_name, dtype, kinds):
    """The TypeError for a dtype (a name) outside `kinds`, worded for that requirement."""
    return TypeError(f"Error in {op_name}: " + _REFUSALS[kinds].format(dtype))


def binary_operands(op_name, a, b, kinds=ANY_DTYPE):
    """Both operands as tensors of one dtype on one backend (scalars adopt the tensor's dtype).

    Shapes and the dtype kind of the common dtype are checked before any cast runs.
    """
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            b = convert_to_tensor(b)
        a = (scalar_operand(a, b) if isinstance(a, (int, float, bool))
             else convert_to_tensor(a, like=b))
    elif not isinstance(b, Tensor):
        b = (scalar_operand(b, a) if isinstance(b, (int, float, bool))
             else convert_to_tensor(b, like=a))
    native_a, native_b = a.native, b.native
    dtype = native_a.dtype
    if dtype == native_b.dtype:  # the common case: nothing to promote or cast
        if native_a.shape != native_b.shape:
            broadcast_shapes(op_name, native_a.shape, native_b.shape)
        if dtype.kind not in kinds:
            raise dtype_refused(op_name, a.dtype, kinds)
        return a, b
    broadcast_shapes(op_name, native_a.shape, native_b.shape)
    common = dtypes.promote(a.dtype, b.dtype)
    require_kind(op_name, common, kinds)
    return cast(a, common), cast(b, common)


def _shape_of(value):
    """The shape of a tensor or of host data (scalars, lists, arrays), without converting it."""
    return value.shape if isinstance(value, Tensor) else tuple(np.shape(value))


def reduce_to_shape(grad, shape):
    """Sum a broadcast gradient back down to an input's shape (the one broadcasting helper)."""
    if grad.shape == shape:
        return grad
    from engine.ops.reduce import sum as reduce_sum
    from engine.ops.shape import reshape

    lead = len(grad.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, dim in enumerate(shape) if dim == 1 and grad.shape[lead + i] != 1)
    return reshape(reduce_sum(grad, axes), shape)


# ---------------------------------------------------------------------------- unary ops

def _unary_op(kernel_name, public_name, kinds):
    """Build a public unary op: convert, check the dtype kind, dispatch."""

    accepted = native_dtypes(kinds)

    def op(x):
        if not isinstance(x, Tensor):
            x = convert_to_tensor(x)
        if x.native.dtype not in accepted:
            raise dtype_refused(public_name, x.dtype, kinds)
        return run_kernel(kernel_name, (x,))

    op.__name__ = public_name
    op.__qualname__ = public_name
    op.__doc__ = f"Elementwise {public_name}."
    return op


neg = _unary_op("Neg", "neg", NUMERIC)
abs = _unary_op("Abs", "abs", NUMERIC)  # noqa: A001  (public name matches TF.js and NumPy)
sign = _unary_op("Sign", "sign", NUMERIC)
exp = _unary_op("Exp", "exp", FLOATING)
expm1 = _unary_op("Expm1", "expm1", FLOATING)
log = _unary_op("Log", "log", FLOATING)
log1p = _unary_op("Log1p", "log1p", FLOATING)
sqrt = _unary_op("Sqrt", "sqrt", FLOATING)
rsqrt = _unary_op("Rsqrt", "rsqrt", FLOATING)
square = _unary_op("Square", "square", NUMERIC)
reciprocal = _unary_op("Reciprocal", "reciprocal", FLOATING)
sin = _unary_op("Sin", "sin", FLOATING)
cos = _unary_op("Cos", "cos", FLOATING)
tanh = _unary_op("Tanh", "tanh", FLOATING)
sigmoid = _unary_op("Sigmoid", "sigmoid", FLOATING)
relu = _unary_op("Relu", "relu", NUMERIC)
relu6 = _unary_op("Relu6", "relu6", NUMERIC)
elu = _unary_op("Elu", "elu", FLOATING)
selu = _unary_op("Selu", "selu", FLOATING)
softplus = _unary_op("Softplus", "softplus", FLOATING)
erf = _unary_op("Erf", "erf", FLOATING)
floor = _unary_op("Floor", "floor", FLOATING)
ceil = _unary_op("Ceil", "ceil", FLOATING)
round = _unary_op("Round", "round", FLOATING)  # noqa: A001
logical_not = _unary_op("LogicalNot", "logical_not", BOOLEAN)
is_nan = _unary_op("IsNan", "is_nan", FLOATING)
is_finite = _unary_op("IsFinite", "is_finite", FLOATING)


def leaky_relu(x, alpha=0.2):
    """x where x >= 0, alpha * x elsewhere (TF.js's default alpha is 0.2)."""
    x = convert_to_tensor(x)
    require_kind("leaky_relu", x.dtype, FLOATING)
    return run_kernel("LeakyRelu", (x,), alpha=float(alpha))


def gelu(x, approximate=False):
    """Gaussian error linear unit; the tanh approximation when `approximate`."""
    x = convert_to_tensor(x)
    require_kind("gelu", x.dtype, FLOATING)
    return run_kernel("Gelu", (x,), approximate=bool(approximate))


def cast(x, dtype):
    """Convert to `dtype` (float to int truncates toward zero)."""
    x = convert_to_tensor(x)
    dtype = dtypes.as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return run_kernel("Cast", (x,), dtype=dtype)


def clip(x, min_value, max_value):
    """Clamp to [min_value, max_value] (tf.clipByValue)."""
    x = convert_to_tensor(x)
    if min_value > max_value:
        raise ValueError(f"Error in clip: min_value ({min_value}) must be <= max_value "
                         f"({max_value})")
    return run_kernel("ClipByValue", (x,), clip_min=min_value, clip_max=max_value)


# ---------------------------------------------------------------------------- binary ops

def _binary_op(kernel_name, public_name, kinds=ANY_DTYPE):
    accepted = native_dtypes(kinds)

    def op(a, b):
        if isinstance(a, Tensor) and isinstance(b, Tensor):  # the common case, without a call
            native_a, native_b = a.native, b.native
            dtype = native_a.dtype
            if dtype is native_b.dtype and dtype in accepted and native_a.shape == native_b.shape:
                return run_binary_kernel(kernel_name, a, b)
        return run_kernel(kernel_name, binary_operands(public_name, a, b, kinds))

    op.__name__ = public_name
    op.__qualname__ = public_name
    op.__doc__ = f"Elementwise {public_name} with NumPy broadcasting."
    return op


add = _binary_op("Add", "add", NUMERIC)
sub = _binary_op("Sub", "sub", NUMERIC)
mul = _binary_op("Mul", "mul", NUMERIC)
floor_div = _binary_op("FloorDiv", "floor_div", NUMERIC)
mod = _binary_op("Mod", "mod", NUMERIC)
pow = _binary_op("Pow", "pow", NUMERIC)  # noqa: A001
maximum = _binary_op("Maximum", "maximum", NUMERIC)
minimum = _binary_op("Minimum", "minimum", NUMERIC)
squared_difference = _binary_op("SquaredDifference", "squared_difference", NUMERIC)
equal = _binary_op("Equal", "equal")
not_equal = _binary_op("NotEqual", "not_equal")
less = _binary_op("Less", "less")
less_equal = _binary_op("LessEqual", "less_equal")
greater = _binary_op("Greater", "greater")
greater_equal = _binary_op("GreaterEqual", "greater_equal")
logical_and = _binary_op("LogicalAnd", "logical_and", BOOLEAN)
logical_or = _binary_op("LogicalOr", "logical_or", BOOLEAN)


def div(a, b):
    """True division; integer operands are divided as float32 (as Python's / does)."""
    a, b = binary_operands("div", a, b)
    if not dtypes.is_floating(a.dtype):
        a, b = cast(a, dtypes.float32), cast(b, dtypes.float32)
    return run_kernel("Div", (a, b))


def where(condition, a, b):
    """Elements of `a` where `condition` holds, else of `b`, broadcasting all three."""
    condition = convert_to_tensor(condition)
    require_kind("where", condition.dtype, BOOLEAN)
    broadcast_shapes("where", condition.shape,
                     broadcast_shapes("where", _shape_of(a), _shape_of(b)))
    a, b = binary_operands("where", a, b)
    return run_kernel("Select", (condition, a, b))


# ---------------------------------------------------------------------------- gradients

def _register_unary_gradients():
    """Each gradient reads like the derivative: dy * f'(x), written with engine ops."""
    rules = {
        "Neg": lambda dy, x, y: neg(dy),
        "Abs": lambda dy, x, y: mul(dy, sign(x)),
        "Exp": lambda dy, x, y: mul(dy, y),
        "Expm1": lambda dy, x, y: mul(dy, add(y, 1.0)),
        "Log": lambda dy, x, y: div(dy, x),
        "Log1p": lambda dy, x, y: div(dy, add(x, 1.0)),
        "Sqrt": lambda dy, x, y: div(dy, mul(y, 2.0)),
        "Rsqrt": lambda dy, x, y: mul(dy, mul(pow(y, 3.0), -0.5)),
        "Square": lambda dy, x, y: mul(dy, mul(x, 2.0)),
        "Reciprocal": lambda dy, x, y: neg(mul(dy, square(y))),
        "Sin": lambda dy, x, y: mul(dy, cos(x)),
        "Cos": lambda dy, x, y: neg(mul(dy, sin(x))),
        "Tanh": lambda dy, x, y: run_kernel("TanhGrad", (dy, y)),
        "Sigmoid": lambda dy, x, y: run_kernel("SigmoidGrad", (dy, y)),
        "Relu": lambda dy, x, y: run_kernel("ReluGrad", (dy, y)),
        "Relu6": lambda dy, x, y: mul(dy, cast(logical_and(greater(x, 0.0), less(x, 6.0)),
                                               dy.dtype)),
        "Elu": lambda dy, x, y: where(greater(x, 0.0), dy, mul(dy, add(y, 1.0))),
        "Selu": lambda dy, x, y: where(greater(x, 0.0), mul(dy, _SELU_SCALE),
                                       mul(dy, add(y, _SELU_SCALE * _SELU_ALPHA))),
        "Softplus": lambda dy, x, y: mul(dy, sigmoid(x)),
        "Erf": lambda dy, x, y: mul(dy, mul(2.0 / math.sqrt(math.pi), exp(neg(square(x))))),
        "Sign": lambda dy, x, y: mul(dy, 0.0),
        "Floor": lambda dy, x, y: mul(dy, 0.0),
        "Ceil": lambda dy, x, y: mul(dy, 0.0),
        "Round": lambda dy, x, y: mul(dy, 0.0),
    }
    for kernel_name, rule in rules.items():
        register_gradient(kernel_name)(
            lambda dy, node, rule=rule: rule(dy, node.inputs[0], node.outputs[0]))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_register_unary_gradients()


@register_gradient("LeakyRelu")
def _leaky_relu_grad(dy, node):
    return where(greater_equal(node.inputs[0], 0.0), dy, mul(dy, node.attrs["alpha"]))


@register_gradient("Gelu")
def _gelu_grad(dy, node):
    x = node.inputs[0]
    if node.attrs["approximate"]:
        c = math.sqrt(2.0 / math.pi)
        inner = mul(c, add(x, mul(0.044715, pow(x, 3.0))))
        t = tanh(inner)
        d_inner = mul(c, add(1.0, mul(3 * 0.044715, square(x))))
        return mul(dy, add(mul(0.5, add(1.0, t)), mul(mul(0.5, x), mul(sub(1.0, square(t)),
                                                                       d_inner))))
    cdf = mul(0.5, add(1.0, erf(mul(x, 1.0 / math.sqrt(2.0)))))
    pdf = mul(1.0 / math.sqrt(2.0 * math.pi), exp(mul(square(x), -0.5)))
    return mul(dy, add(cdf, mul(x, pdf)))


@register_gradient("Cast")
def _cast_grad(dy, node):
    return cast(dy, node.inputs[0].dtype)


@register_gradient("ClipByValue")
def _clip_grad(dy, node):
    x = node.inputs[0]
    inside = logical_and(greater_equal(x, node.attrs["clip_min"]),
                         less_equal(x, node.attrs["clip_max"]))
    return where(inside, dy, mul(dy, 0.0))


def _binary_gradient(kernel_name):
    """Register a binary op's gradient: local derivatives, then reduce to each input's shape."""

    def decorate(rule):
        @register_gradient(kernel_name)
        def gradient(dy, node):
            a, b = node.inputs
            grad_a, grad_b = rule(dy, a, b, node.outputs[0], node.needs)
            need_a, need_b = node.needs
            return (reduce_to_shape(grad_a, a.shape) if need_a and grad_a is not None else None,
                    reduce_to_shape(grad_b, b.shape) if need_b and grad_b is not None else None)

        return rule

    return decorate


@_binary_gradient("Add")
def _add_grad(dy, a, b, y, needs):
    return dy, dy


@_binary_gradient("Sub")
def _sub_grad(dy, a, b, y, needs):
    return dy, neg(dy) if needs[1] else None


@_binary_gradient("Mul")
def _mul_grad(dy, a, b, y, needs):
    return mul(dy, b) if needs[0] else None, mul(dy, a) if needs[1] else None


@_binary_gradient("Div")
def _div_grad(dy, a, b, y, needs):
    dy_over_b = div(dy, b)  # d(a/b)/db = -(a/b)/b: the output y stands in for a/b
    return dy_over_b, neg(mul(dy_over_b, y)) if needs[1] else None


@_binary_gradient("Pow")
def _pow_grad(dy, a, b, y, needs):
    grad_a = mul(dy, mul(b, pow(a, sub(b, 1.0)))) if needs[0] else None
    grad_b = None
    if needs[1]:
        positive = greater(a, 0.0)
        safe_log = log(where(positive, a, 1.0))
        grad_b = mul(dy, where(positive, mul(y, safe_log), 0.0))
    return grad_a, grad_b


@_binary_gradient("Maximum")
def _maximum_grad(dy, a, b, y, needs):
    a_wins = greater_equal(a, b)
    return where(a_wins, dy, 0.0), where(a_wins, 0.0, dy)


@_binary_gradient("Minimum")
def _minimum_grad(dy, a, b, y, needs):
    a_wins = less_equal(a, b)
    return where(a_wins, dy, 0.0), where(a_wins, 0.0, dy)


@_binary_gradient("SquaredDifference")
def _squared_difference_grad(dy, a, b, y, needs):
    two_diff = mul(sub(a, b), 2.0)
    return mul(dy, two_diff), neg(mul(dy, two_diff))


@_binary_gradient("FloorDiv")
def _floor_div_grad(dy, a, b, y, needs):
    return mul(dy, 0.0), mul(dy, 0.0)


@_binary_gradient("Mod")
def _mod_grad(dy, a, b, y, needs):
    return dy, neg(mul(dy, floor(div(a, b)))) if needs[1] else None


@register_gradient("Select")
def _select_grad(dy, node):
    condition, a, b = node.inputs
    return (None, reduce_to_shape(where(condition, dy, 0.0), a.shape),
            reduce_to_shape(where(condition, 0.0, dy), b.shape))
