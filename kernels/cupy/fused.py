"""CuPy fused kernels: the cuBLAS GEMM or convolution of linalg.py / conv.py, then one fused
ElementwiseKernel adding the bias and applying the activation; ReluGrad, SigmoidGrad and
TanhGrad in one kernel each."""
from engine.kernels.cupy import conv, linalg
from engine.kernels.cupy.elementwise import define_fused, fused, run_fused
from engine.registry import register_kernel

_EPILOGUES = {
    "linear": define_fused("bias_add", "y = x + bias", "T x, T bias"),
    # Written so NaN passes through, as the Relu kernel does.
    "relu": define_fused("bias_relu", "T z = x + bias; y = z < T(0) ? T(0) : z", "T x, T bias"),
}
_RELU_GRAD = define_fused("relu_grad", "dx = y > T(0) ? dy : T(0)", "T dy, T y", "T dx")
_SIGMOID_GRAD = define_fused("sigmoid_grad", "dx = dy * (y * (T(1) - y))", "T dy, T y", "T dx")
_TANH_GRAD = define_fused("tanh_grad", "dx = dy * (T(1) - y * y)", "T dy, T y", "T dx")


def add_bias_and_activate(y, bias, activation):
    """y + bias (broadcast along y's last axis), then the activation, in one pass."""
    return run_fused(fused(_EPILOGUES[activation]), y, bias)


@register_kernel("FusedMatMul", "cupy")
def fused_matmul(a, b, bias, transpose_a, transpose_b, activation):
    return add_bias_and_activate(linalg.batch_matmul(a, b, transpose_a, transpose_b), bias,
                                 activation)


@register_kernel("FusedConv2D", "cupy")
def fused_conv2d(x, filter, bias, strides, padding, dilations, activation):  # noqa: A002
    return add_bias_and_activate(conv.conv2d(x, filter, strides, padding, dilations), bias,
                                 activation)


@register_kernel("ReluGrad", "cupy")
def relu_grad(dy, y):
    return run_fused(fused(_RELU_GRAD), dy, y)


@register_kernel("SigmoidGrad", "cupy")
def sigmoid_grad(dy, y):
    return run_fused(fused(_SIGMOID_GRAD), dy, y)


@register_kernel("TanhGrad", "cupy")
def tanh_grad(dy, y):
    return run_fused(fused(_TANH_GRAD), dy, y)
