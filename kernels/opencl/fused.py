"""OpenCL fused kernels: the GEMM or convolution of linalg.py / conv.py, then one elementwise
launch adding the bias and applying the activation in place on that fresh output; ReluGrad,
SigmoidGrad and TanhGrad in one elementwise launch each."""
from engine.kernels.opencl import conv, linalg, strided
from engine.kernels.opencl.elementwise import map_arrays
from engine.registry import register_kernel

_EPILOGUES = {"linear": "y + bias", "relu": "(y + bias > 0 ? y + bias : 0)"}


def add_bias_and_activate(y, bias, activation):
    """y + bias (along y's last axis), then the activation, written over y; returns y."""
    strided.run(_EPILOGUES[activation], ("y", "bias"), [y, strided.broadcast(bias, y.shape)], y)
    return y


@register_kernel("FusedMatMul", "opencl")
def fused_matmul(a, b, bias, transpose_a, transpose_b, activation):
    return add_bias_and_activate(linalg.batch_matmul(a, b, transpose_a, transpose_b), bias,
                                 activation)


@register_kernel("FusedConv2D", "opencl")
def fused_conv2d(x, filter, bias, strides, padding, dilations, activation):  # noqa: A002
    return add_bias_and_activate(conv.conv2d(x, filter, strides, padding, dilations), bias,
                                 activation)


@register_kernel("ReluGrad", "opencl")
def relu_grad(dy, y):
    return map_arrays("(y > 0 ? dy : 0)", ("dy", "y"), [dy, y], dy.dtype)


@register_kernel("SigmoidGrad", "opencl")
def sigmoid_grad(dy, y):
    return map_arrays("dy * (y * (1 - y))", ("dy", "y"), [dy, y], dy.dtype)


@register_kernel("TanhGrad", "opencl")
def tanh_grad(dy, y):
    return map_arrays("dy * (1 - y * y)", ("dy", "y"), [dy, y], dy.dtype)
