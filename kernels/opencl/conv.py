"""OpenCL convolutions: im2col + the GEMM of linalg.py for Conv2D and both its gradients
(col2im gathers the input gradient without atomics); direct kernels for depthwise."""
import math

import numpy as np

from engine.kernels.opencl import program, strided
from engine.kernels.opencl.linalg import batch_matmul
from engine.registry import register_kernel

_GROUP = 64


def output_size(input_hw, kernel_hw, strides, padding, dilations):
    return tuple((size + sum(pad) - (k - 1) * d - 1) // s + 1
                 for size, k, s, pad, d in zip(input_hw, kernel_hw, strides, padding, dilations))


def geometry(input_shape, out_hw, kernel_hw, strides, padding, dilations):
    """The GEOMETRY arguments of conv.cl and pool.cl, in order."""
    n, h, w, c = input_shape
    values = (n, h, w, c, *out_hw, *kernel_hw, *strides, padding[0][0], padding[1][0],
              *dilations)
    return [np.int32(v) for v in values]


def kernel(name, dtype, filename="conv.cl"):
    source = program.read_source(filename).replace("TYPE", program.c_type(dtype))
    return program.kernel(source, name)


def _im2col(x, kernel_hw, strides, padding, dilations):
    """(1, N*OH*OW, KH*KW*C) patch rows of x, and the output size."""
    out_hw = output_size(x.shape[1:3], kernel_hw, strides, padding, dilations)
    rows = x.shape[0] * out_hw[0] * out_hw[1]
    cols = program.empty((1, rows, kernel_hw[0] * kernel_hw[1] * x.shape[3]), x.dtype)
    program.launch(kernel("im2col", x.dtype),
                   (kernel_hw[0] * kernel_hw[1], out_hw[1], x.shape[0] * out_hw[0]), None,
                   x.data, cols.data,
                   *geometry(x.shape, out_hw, kernel_hw, strides, padding, dilations))
    return cols, out_hw


@register_kernel("Conv2D", "opencl")
def conv2d(x, filter, strides, padding, dilations):  # noqa: A002
    x, filter = strided.dense(x), strided.dense(filter)
    kh, kw, _, out_channels = filter.shape
    cols, out_hw = _im2col(x, (kh, kw), strides, padding, dilations)
    y = batch_matmul(cols, filter.reshape(1, cols.shape[2], out_channels), False, False)
    return y.reshape((x.shape[0],) + out_hw + (out_channels,))


@register_kernel("Conv2DBackpropFilter", "opencl")
def conv2d_backprop_filter(x, dy, filter_shape, strides, padding, dilations):
    x, dy = strided.dense(x), strided.dense(dy)
    cols, _ = _im2col(x, filter_shape[:2], strides, padding, dilations)
    grad = batch_matmul(cols, dy.reshape(1, cols.shape[1], filter_shape[3]), True, False)
    return grad.reshape(filter_shape)


@register_kernel("Conv2DBackpropInput", "opencl")
def conv2d_backprop_input(dy, filter, input_shape, strides, padding, dilations):  # noqa: A002
    dy, filter = strided.dense(dy), strided.dense(filter)
    kh, kw, _, out_channels = filter.shape
    # Shapes spelled out: PyOpenCL reads -1 next to a 0 as 0.
    cols = batch_matmul(dy.reshape(1, math.prod(dy.shape[:3]), out_channels),
                        filter.reshape(1, kh * kw * filter.shape[2], out_channels), False, True)
    dx = program.empty(input_shape, dy.dtype)
    program.launch(kernel("col2im", dy.dtype), (input_shape[2], input_shape[0] * input_shape[1]),
                   None, cols.data, dx.data,
                   *geometry(input_shape, dy.shape[1:3], (kh, kw), strides, padding, dilations))
    return dx


@register_kernel("Conv2DBackprop", "opencl")
def conv2d_backprop(x, dy, filter, strides, padding, dilations):  # noqa: A002
    return (conv2d_backprop_input(dy, filter, x.shape, strides, padding, dilations),
            conv2d_backprop_filter(x, dy, filter.shape, strides, padding, dilations))


@register_kernel("DepthwiseConv2dNative", "opencl")
def depthwise_conv2d(x, filter, strides, padding, dilations):  # noqa: A002
    x, filter = strided.dense(x), strided.dense(filter)
    kh, kw, channels, multiplier = filter.shape
    out_hw = output_size(x.shape[1:3], (kh, kw), strides, padding, dilations)
    y = program.empty((x.shape[0],) + out_hw + (channels * multiplier,), x.dtype)
    program.launch(kernel("depthwise_forward", x.dtype), (y.size,), None, x.data, filter.data,
                   y.data, np.int32(multiplier),
                   *geometry(x.shape, out_hw, (kh, kw), strides, padding, dilations))
    return y


@register_kernel("DepthwiseConv2dNativeBackpropInput", "opencl")
def depthwise_conv2d_backprop_input(dy, filter, input_shape, strides, padding,  # noqa: A002
                                    dilations):
    dy, filter = strided.dense(dy), strided.dense(filter)
    kh, kw, _, multiplier = filter.shape
    dx = program.empty(input_shape, dy.dtype)
    program.launch(kernel("depthwise_backprop_input", dy.dtype), (dx.size,), None, dy.data,
                   filter.data, dx.data, np.int32(multiplier),
                   *geometry(input_shape, dy.shape[1:3], (kh, kw), strides, padding, dilations))
    return dx


@register_kernel("DepthwiseConv2dNativeBackpropFilter", "opencl")
def depthwise_conv2d_backprop_filter(x, dy, filter_shape, strides, padding, dilations):
    x, dy = strided.dense(x), strided.dense(dy)
    df = program.empty(filter_shape, x.dtype)
    entries = int(np.prod(filter_shape))
    program.launch(kernel("depthwise_backprop_filter", x.dtype), (entries * _GROUP,),
                   (_GROUP,), x.data, dy.data, df.data, np.int32(filter_shape[3]),
                   *geometry(x.shape, dy.shape[1:3], filter_shape[:2], strides, padding,
                             dilations),
                   program.cl.LocalMemory(_GROUP * x.dtype.itemsize))
    return df
