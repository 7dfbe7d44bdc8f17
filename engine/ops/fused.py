"""Fused ops (TF.js's fusedMatMul and fusedConv2d): a matrix product or a 2-D convolution with
its bias and activation in one kernel, so a Dense or Conv2D layer runs one kernel forward.

Their gradients reuse the unfused ones: the activation's gradient (ReluGrad, one kernel), the
bias's (a sum over all but the last axis), then BatchMatMul's or Conv2D's on the rest.
"""
import functools

from engine import dtypes
from engine.autodiff import Node
from engine.dispatch import run_kernel
from engine.ops.conv import _check_depth, _conv_attrs, _float_tensors, _require_rank
from engine.ops.convert import convert_to_tensor
from engine.ops.linalg import check_operands, product_shape
from engine.registry import get_gradient, register_gradient

__all__ = ["fused_matmul", "fused_conv2d"]

ACTIVATIONS = ("linear", "relu")


def _checked_activation(op_name, activation):
    name = "linear" if activation is None else activation
    if name not in ACTIVATIONS:
        raise ValueError(f"Error in {op_name}: activation must be one of {ACTIVATIONS}, got "
                         f"{activation!r}")
    return name


def _checked_bias(op_name, bias, channels, like):
    """The bias as a (channels,) tensor on `like`'s backend, or None."""
    if bias is None:
        return None
    bias = convert_to_tensor(bias, like=like)
    if bias.shape != (channels,):
        raise ValueError(f"Error in {op_name}: bias must have shape ({channels},), one value "
                         f"per output column, got {bias.shape}")
    if bias.dtype == dtypes.bool_:
        raise TypeError(f"Error in {op_name}: expected a numeric bias, got {bias.dtype}")
    return bias


def _same_dtype(tensors):
    """The tensors cast to their common dtype (None entries stay None)."""
    from engine.ops.elementwise import cast

    common = functools.reduce(dtypes.promote, [t.dtype for t in tensors if t is not None])
    return [t if t is None or t.dtype == common else cast(t, common) for t in tensors]


def _unfused(op, inputs, attrs, activation):
    """Without a bias: the plain kernel, then relu when asked."""
    from engine.ops.elementwise import relu

    out = run_kernel(op, inputs, **attrs)
    return relu(out) if activation == "relu" else out


def fused_matmul(a, b, bias=None, activation="linear", transpose_a=False, transpose_b=False):
    """activation(op(a) @ op(b) + bias) for two matrices, op a transpose or not; bias (N,)."""
    op_name = "fused_matmul"
    activation = _checked_activation(op_name, activation)
    a = convert_to_tensor(a)
    b = convert_to_tensor(b, like=a)
    check_operands(op_name, a, b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"Error in {op_name}: a and b must be matrices (rank 2), got tensors "
                         f"with shapes {a.shape} and {b.shape}; use matmul for batches")
    _, _, n = product_shape(op_name, a, b, a.shape, b.shape, transpose_a, transpose_b)
    bias = _checked_bias(op_name, bias, n, a)
    a, b, bias = _same_dtype((a, b, bias))
    attrs = dict(transpose_a=bool(transpose_a), transpose_b=bool(transpose_b))
    if bias is None:
        return _unfused("BatchMatMul", (a, b), attrs, activation)
    return run_kernel("FusedMatMul", (a, b, bias), activation=activation, **attrs)


def fused_conv2d(x, filters, bias=None, strides=1, padding="valid", dilations=1,
                 activation="linear"):
    """activation(conv2d(x, filters) + bias): NHWC x, HWIO filters, bias (out_channels,)."""
    op_name = "fused_conv2d"
    activation = _checked_activation(op_name, activation)
    x, filters = _float_tensors(op_name, x=x, filters=filters)
    _require_rank(op_name, "x", x, 4)
    _require_rank(op_name, "filters", filters, 4)
    _check_depth(op_name, x, filters.shape[2])
    attrs = _conv_attrs(op_name, x, filters.shape[:2], strides, padding, dilations)
    bias = _checked_bias(op_name, bias, filters.shape[3], x)
    if bias is None:
        return _unfused("Conv2D", (x, filters), attrs, activation)
    x, filters, bias = _float_tensors(op_name, x=x, filters=filters, bias=bias)
    return run_kernel("FusedConv2D", (x, filters, bias), activation=activation, **attrs)


def _register_fused_gradient(fused_op, base_op):
    """The gradient of `fused_op` = activation(base_op(first two inputs) + bias)."""

    @register_gradient(fused_op)
    def _fused_grad(dy, node):
        from engine.ops.reduce import sum as reduce_sum

        if node.attrs["activation"] == "relu":
            dy = run_kernel("ReluGrad", (dy, node.outputs[0]))
        base = Node(base_op, node.inputs[:2], node.outputs, node.attrs)
        base.needs = node.needs[:2]
        grad_bias = reduce_sum(dy, tuple(range(dy.ndim - 1))) if node.needs[2] else None
        return (*get_gradient(base_op)(dy, base), grad_bias)


_register_fused_gradient("FusedMatMul", "BatchMatMul")
_register_fused_gradient("FusedConv2D", "Conv2D")


@register_gradient("SigmoidGrad")
def _sigmoid_grad_grad(grad, node):
    """d/d dy = y (1 - y); d/dy = dy (1 - 2y)."""
    from engine.ops.elementwise import mul, sub

    dy, y = node.inputs
    return run_kernel("SigmoidGrad", (grad, y)), mul(mul(grad, dy), sub(1.0, mul(y, 2.0)))


@register_gradient("TanhGrad")
def _tanh_grad_grad(grad, node):
    """d/d dy = 1 - y^2; d/dy = -2 dy y."""
    from engine.ops.elementwise import mul

    dy, y = node.inputs
    return run_kernel("TanhGrad", (grad, y)), mul(mul(grad, dy), mul(y, -2.0))


@register_gradient("ReluGrad")
def _relu_grad_grad(grad, node):
    """ReluGrad is linear in dy with the mask y > 0, so dy's gradient is the same masking of
    `grad`; the mask is piecewise constant in y, which gets none."""
    return run_kernel("ReluGrad", (grad, node.inputs[1])), None
