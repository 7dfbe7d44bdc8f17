"""Convolution and pooling ops (NHWC images, HWIO filters), with their gradients beside them.

The op layer turns 'same'/'valid' padding into explicit ((top, bottom), (left, right)) exactly
as TensorFlow does, so every kernel sees one canonical geometry.
"""
import itertools
import math

import numpy as np

from engine import dtypes
from engine.autodiff import Node
from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.registry import register_gradient

__all__ = ["conv2d", "depthwise_conv2d", "separable_conv2d", "conv2d_transpose", "conv1d",
           "max_pool2d", "avg_pool2d"]


# ---------------------------------------------------------------------------- geometry

def _pair(op_name, name, value):
    """An int or a pair of ints as a pair of positive ints."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"Error in {op_name}: {name} must be a positive int or a pair of "
                         f"positive ints, got {value!r}")
    return tuple(int(v) for v in pair)


def _explicit_padding(op_name, padding):
    """An int, [[t, b], [l, r]] or TF's [[0, 0], [t, b], [l, r], [0, 0]] as ((t, b), (l, r))."""
    if isinstance(padding, (int, np.integer)) and padding >= 0:
        return ((int(padding), int(padding)),) * 2
    try:
        rows = [tuple(int(v) for v in row) for row in padding]
    except (TypeError, ValueError):
        rows = []
    if len(rows) == 4 and rows[0] == rows[3] == (0, 0):
        rows = rows[1:3]
    if len(rows) != 2 or any(len(row) != 2 or min(row) < 0 for row in rows):
        raise ValueError(f"Error in {op_name}: padding must be 'valid', 'same', a non-negative "
                         f"int or [[top, bottom], [left, right]], got {padding!r}")
    return tuple(rows)


def conv_geometry(op_name, input_hw, kernel_hw, strides, padding, dilations=(1, 1)):
    """Explicit padding ((t, b), (l, r)) and output (height, width), as TensorFlow computes them.

    'same' pads total = max((ceil(in / stride) - 1) * stride + effective_kernel - in, 0), the
    smaller half on top/left; 'valid' pads nothing.
    """
    effective = [(k - 1) * d + 1 for k, d in zip(kernel_hw, dilations)]
    if isinstance(padding, str) and padding.lower() == "same":
        pads = []
        for size, kernel, stride in zip(input_hw, effective, strides):
            total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            pads.append((total // 2, total - total // 2))
        pads = tuple(pads)
    elif isinstance(padding, str) and padding.lower() == "valid":
        pads = ((0, 0), (0, 0))
    else:
        pads = _explicit_padding(op_name, padding)
    out_hw = tuple((size + sum(pad) - kernel) // stride + 1
                   for size, pad, kernel, stride in zip(input_hw, pads, effective, strides))
    if min(out_hw) < 1:
        raise ValueError(f"Error in {op_name}: the output would be empty: input {tuple(input_hw)}"
                         f" with kernel {tuple(kernel_hw)}, dilations {tuple(dilations)} and "
                         f"padding {pads}")
    return pads, out_hw


def _strides_and_dilations(op_name, strides, dilations):
    strides = _pair(op_name, "strides", strides)
    dilations = _pair(op_name, "dilations", dilations)
    if max(strides) > 1 and max(dilations) > 1:
        raise ValueError(f"Error in {op_name}: strides {strides} and dilations {dilations} "
                         "cannot both be greater than 1")
    return strides, dilations


def _float_tensors(op_name, **named):
    """Convert, and check every tensor is floating point and of one dtype."""
    tensors = [convert_to_tensor(value) for value in named.values()]
    for name, tensor in zip(named, tensors):
        if not dtypes.is_floating(tensor.dtype):
            raise TypeError(f"Error in {op_name}: {name} must be floating point, got "
                            f"{tensor.dtype}")
    if len({t.dtype for t in tensors}) > 1:
        found = ", ".join(f"{n} {t.dtype}" for n, t in zip(named, tensors))
        raise TypeError(f"Error in {op_name}: inputs must share one dtype, got {found}")
    return tensors


def _require_rank(op_name, name, tensor, rank):
    if tensor.ndim != rank:
        raise ValueError(f"Error in {op_name}: {name} must be rank {rank}, got shape "
                         f"{tensor.shape}")


def _check_depth(op_name, x, filter_depth):
    if x.shape[3] != filter_depth:
        raise ValueError(f"Error in {op_name}: depth of input ({x.shape[3]}) must match input "
                         f"depth for filter ({filter_depth})")


# ---------------------------------------------------------------------------- convolutions

def _conv_attrs(op_name, x, kernel_hw, strides, padding, dilations):
    strides, dilations = _strides_and_dilations(op_name, strides, dilations)
    pads, _ = conv_geometry(op_name, x.shape[1:3], kernel_hw, strides, padding, dilations)
    return dict(strides=strides, padding=pads, dilations=dilations)


def conv2d(x, filters, strides=1, padding="valid", dilations=1):
    """2-D convolution (cross-correlation) of NHWC `x` with HWIO `filters`."""
    x, filters = _float_tensors("conv2d", x=x, filters=filters)
    _require_rank("conv2d", "x", x, 4)
    _require_rank("conv2d", "filters", filters, 4)
    _check_depth("conv2d", x, filters.shape[2])
    attrs = _conv_attrs("conv2d", x, filters.shape[:2], strides, padding, dilations)
    return run_kernel("Conv2D", (x, filters), **attrs)


def depthwise_conv2d(x, filter, strides=1, padding="valid", dilations=1):  # noqa: A002
    """Each input channel convolved with its own M filters; filter (kh, kw, C, M), out C*M."""
    x, filter = _float_tensors("depthwise_conv2d", x=x, filter=filter)
    _require_rank("depthwise_conv2d", "x", x, 4)
    _require_rank("depthwise_conv2d", "filter", filter, 4)
    _check_depth("depthwise_conv2d", x, filter.shape[2])
    attrs = _conv_attrs("depthwise_conv2d", x, filter.shape[:2], strides, padding, dilations)
    return run_kernel("DepthwiseConv2dNative", (x, filter), **attrs)


def separable_conv2d(x, depthwise_filter, pointwise_filter, strides=1, padding="valid",
                     dilations=1):
    """Depthwise convolution, then a 1x1 convolution mixing its C*M channels."""
    depthwise_filter, pointwise_filter = _float_tensors(
        "separable_conv2d", depthwise_filter=depthwise_filter, pointwise_filter=pointwise_filter)
    _require_rank("separable_conv2d", "pointwise_filter", pointwise_filter, 4)
    _require_rank("separable_conv2d", "depthwise_filter", depthwise_filter, 4)
    channels = depthwise_filter.shape[2] * depthwise_filter.shape[3]
    if pointwise_filter.shape[:3] != (1, 1, channels):
        raise ValueError(f"Error in separable_conv2d: pointwise_filter must have shape "
                         f"(1, 1, {channels}, out_channels) for a depthwise_filter of shape "
                         f"{depthwise_filter.shape}, got {pointwise_filter.shape}")
    depthwise = depthwise_conv2d(x, depthwise_filter, strides, padding, dilations)
    return conv2d(depthwise, pointwise_filter)


def conv2d_transpose(x, filters, output_shape=None, strides=1, padding="valid", dilations=1):
    """The gradient of conv2d with respect to its input, used as an upsampling layer.

    `filters` is (kh, kw, out_channels, in_channels) as in TensorFlow; `output_shape` is
    (N, H, W, out_channels) or (H, W), derived from the strides, padding and dilations (of
    the transposed conv2d) when None.
    """
    op_name = "conv2d_transpose"
    x, filters = _float_tensors(op_name, x=x, filters=filters)
    _require_rank(op_name, "x", x, 4)
    _require_rank(op_name, "filters", filters, 4)
    if x.shape[3] != filters.shape[3]:
        raise ValueError(f"Error in {op_name}: depth of input ({x.shape[3]}) must match input "
                         f"depth for filter ({filters.shape[3]})")
    strides, dilations = _strides_and_dilations(op_name, strides, dilations)
    kernel_hw = filters.shape[:2]
    if output_shape is None:
        effective = tuple((k - 1) * d + 1 for k, d in zip(kernel_hw, dilations))
        out_hw = _transposed_size(op_name, x.shape[1:3], effective, strides, padding)
    else:
        out_hw = _requested_output_hw(op_name, x, filters, output_shape)
    pads, in_hw = conv_geometry(op_name, out_hw, kernel_hw, strides, padding, dilations)
    if in_hw != x.shape[1:3]:
        raise ValueError(f"Error in {op_name}: output_shape {out_hw} convolved with strides "
                         f"{strides} and padding {padding!r} gives {in_hw}, not the input's "
                         f"{x.shape[1:3]}")
    input_shape = (x.shape[0],) + tuple(out_hw) + (filters.shape[2],)
    return run_kernel("Conv2DBackpropInput", (x, filters), input_shape=input_shape,
                      strides=strides, padding=pads, dilations=dilations)


def _requested_output_hw(op_name, x, filters, output_shape):
    shape = tuple(int(v) for v in output_shape)
    if len(shape) == 2:
        return shape
    if len(shape) == 4 and shape[0] == x.shape[0] and shape[3] == filters.shape[2]:
        return shape[1:3]
    raise ValueError(f"Error in {op_name}: output_shape must be (H, W) or ({x.shape[0]}, H, W, "
                     f"{filters.shape[2]}), got {shape}")


def transposed_size(in_hw, kernel_hw, strides, padding):
    """Keras's and TF.js's output size of a transposed convolution with 'same' or 'valid'
    padding: size * stride, plus for 'valid' what the kernel reaches past the stride (a kernel
    shorter than the stride leaves stride - kernel zero cells after the last window)."""
    valid = padding.lower() == "valid"
    return tuple(size * stride + (max(kernel - stride, 0) if valid else 0)
                 for size, stride, kernel in zip(in_hw, strides, kernel_hw))


def _transposed_size(op_name, in_hw, kernel_hw, strides, padding):
    if isinstance(padding, str) and padding.lower() in ("same", "valid"):
        return transposed_size(in_hw, kernel_hw, strides, padding)
    pads = _explicit_padding(op_name, padding)
    return tuple((size - 1) * stride + kernel - sum(pad)
                 for size, stride, kernel, pad in zip(in_hw, strides, kernel_hw, pads))


def conv1d(x, filters, stride=1, padding="valid", dilation=1):
    """1-D convolution of (N, W, C) `x` with (k, C_in, C_out) `filters`, through conv2d."""
    from engine.ops.shape import reshape

    x, filters = _float_tensors("conv1d", x=x, filters=filters)
    _require_rank("conv1d", "x", x, 3)
    _require_rank("conv1d", "filters", filters, 3)
    if not isinstance(padding, str):
        pad = (padding, padding) if isinstance(padding, (int, np.integer)) else tuple(padding)
        padding = [(0, 0), pad]
    n, width, channels = x.shape
    y = conv2d(reshape(x, (n, 1, width, channels)), reshape(filters, (1,) + filters.shape),
               (1, stride), padding, (1, dilation))
    return reshape(y, (n, y.shape[2], y.shape[3]))


def _register_conv_gradients(forward, backprop_input, backprop_filter, backprop_both=None):
    """Gradients of a convolution and of its backprop kernels (each is bilinear); with
    `backprop_both`, the kernel computing both backprops at once, where both are needed."""

    def geometry(node):
        return {key: node.attrs[key] for key in ("strides", "padding", "dilations")}

    @register_gradient(forward)
    def _forward_grad(dy, node):
        x, filters = node.inputs
        if backprop_both is not None and all(node.needs):
            return run_kernel(backprop_both, (x, dy, filters), **geometry(node))
        return (run_kernel(backprop_input, (dy, filters), input_shape=x.shape, **geometry(node))
                if node.needs[0] else None,
                run_kernel(backprop_filter, (x, dy), filter_shape=filters.shape,
                           **geometry(node)) if node.needs[1] else None)

    @register_gradient(backprop_input)
    def _backprop_input_grad(grad, node):
        dy, filters = node.inputs
        return (run_kernel(forward, (grad, filters), **geometry(node)) if node.needs[0] else None,
                run_kernel(backprop_filter, (grad, dy), filter_shape=filters.shape,
                           **geometry(node)) if node.needs[1] else None)

    @register_gradient(backprop_filter)
    def _backprop_filter_grad(grad, node):
        x, dy = node.inputs
        return (run_kernel(backprop_input, (dy, grad), input_shape=x.shape, **geometry(node))
                if node.needs[0] else None,
                run_kernel(forward, (x, grad), **geometry(node)) if node.needs[1] else None)

    if backprop_both is None:
        return

    @register_gradient(backprop_both)
    def _backprop_both_grad(grads, node):
        """Outputs (dx, dw) = (backprop_input(dy, filter), backprop_filter(x, dy)): each input's
        gradient adds what reaches it through either."""
        from engine.ops.elementwise import add

        x, dy, filters = node.inputs
        input_grad, filter_grad = grads
        through_input = Node(backprop_input, (dy, filters), node.outputs[:1], node.attrs)
        through_filter = Node(backprop_filter, (x, dy), node.outputs[1:], node.attrs)
        through_input.needs = (node.needs[1] and input_grad is not None,
                               node.needs[2] and input_grad is not None)
        through_filter.needs = (node.needs[0] and filter_grad is not None,
                                node.needs[1] and filter_grad is not None)
        dy_by_input, filters_grad = (_backprop_input_grad(input_grad, through_input)
                                     if any(through_input.needs) else (None, None))
        x_grad, dy_by_filter = (_backprop_filter_grad(filter_grad, through_filter)
                                if any(through_filter.needs) else (None, None))
        if dy_by_input is None or dy_by_filter is None:
            return x_grad, dy_by_filter if dy_by_input is None else dy_by_input, filters_grad
        return x_grad, add(dy_by_input, dy_by_filter), filters_grad


_register_conv_gradients("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter",
                         "Conv2DBackprop")
_register_conv_gradients("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                         "DepthwiseConv2dNativeBackpropFilter")


# ---------------------------------------------------------------------------- pooling

def _pool_attrs(op_name, x, pool_size, strides, padding):
    (x,) = _float_tensors(op_name, x=x)
    _require_rank(op_name, "x", x, 4)
    pool_size = _pair(op_name, "pool_size", pool_size)
    strides = pool_size if strides is None else _pair(op_name, "strides", strides)
    pads, _ = conv_geometry(op_name, x.shape[1:3], pool_size, strides, padding)
    for (before, after), size in zip(pads, pool_size):
        if max(before, after) >= size:
            raise ValueError(f"Error in {op_name}: padding {pads} must be smaller than "
                             f"pool_size {pool_size}, or a window would hold only padding")
    return x, dict(pool_size=pool_size, strides=strides, padding=pads)


def max_pool2d(x, pool_size, strides=None, padding="valid"):
    """The maximum of each window (strides default to pool_size); padded cells never win."""
    x, attrs = _pool_attrs("max_pool2d", x, pool_size, strides, padding)
    return run_kernel("MaxPool", (x,), **attrs)


def avg_pool2d(x, pool_size, strides=None, padding="valid"):
    """The mean of each window over the cells inside the image (TensorFlow's 'same' rule)."""
    x, attrs = _pool_attrs("avg_pool2d", x, pool_size, strides, padding)
    return run_kernel("AvgPool", (x,), **attrs)


@register_gradient("MaxPool")
def _max_pool_grad(dy, node):
    return run_kernel("MaxPoolGrad", (node.inputs[0], node.outputs[0], dy), **node.attrs)


@register_gradient("MaxPoolGrad")
def _max_pool_grad_grad(grad, node):
    """MaxPoolGrad is linear in dy: its adjoint reads `grad` at each window's first maximum.
    x and y only choose the route, so they get no gradient."""
    from engine.ops.creation import ones_like
    from engine.ops.elementwise import add, equal, logical_and, logical_not, logical_or, where

    x, y, _ = node.inputs
    inside = ones_like(x)
    result, seen = None, None
    for tap in itertools.product(*(range(size) for size in node.attrs["pool_size"])):
        pick = _tap_reader(tap, node.attrs, x)
        is_max = logical_and(equal(pick(x), y), equal(pick(inside), 1.0))
        first = is_max if seen is None else logical_and(is_max, logical_not(seen))
        seen = is_max if seen is None else logical_or(seen, is_max)
        term = where(first, pick(grad), 0.0)
        result = term if result is None else add(result, term)
    return None, None, result


def _tap_reader(tap, attrs, like):
    """A function giving, per window, the cell at `tap` (zero where that cell is padding)."""
    kh, kw = attrs["pool_size"]
    channels = like.shape[3]
    selector = np.zeros((kh, kw, channels, 1), dtype=like.dtype)
    selector[tap[0], tap[1]] = 1.0
    selector = convert_to_tensor(selector, dtype=like.dtype, like=like)
    return lambda t: run_kernel("DepthwiseConv2dNative", (t, selector), strides=attrs["strides"],
                                padding=attrs["padding"], dilations=(1, 1))


@register_gradient("AvgPool")
def _avg_pool_grad(dy, node):
    return run_kernel("AvgPoolGrad", (dy,), input_shape=node.inputs[0].shape, **node.attrs)


@register_gradient("AvgPoolGrad")
def _avg_pool_grad_grad(grad, node):
    """AvgPoolGrad is the adjoint of the linear AvgPool, so its own adjoint is AvgPool."""
    attrs = {key: node.attrs[key] for key in ("pool_size", "strides", "padding")}
    return run_kernel("AvgPool", (grad,), **attrs)
