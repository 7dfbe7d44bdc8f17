"""NumPy fused kernels: a GEMM or convolution whose bias and activation run in place on its
fresh output (no arrays beyond the output), and ReluGrad, SigmoidGrad and TanhGrad each in
one array.

The convolution applies them per batch chunk right after that chunk's GEMM, while its output
is in cache. The float32 operations are those of the unfused ops (matmul, add, maximum), so the
results are the same to the bit.
"""
import numpy as np

from engine.kernels.numpy.conv import conv2d
from engine.kernels.numpy.linalg import batch_matmul
from engine.registry import register_kernel


LONG_RUN = 256  # a short bias is repeated to about this length so NumPy adds it in long runs
MIN_REPEATED = 16384  # outputs below this many elements add the bias plainly


def add_bias(out, bias):
    """out += bias along out's last axis. NumPy adds a short broadcast bias one short row at a
    time (a (43264, 8) conv output: 200 us); on a C-contiguous output, LONG_RUN // C rows side
    by side take the bias repeated that often (49 us): the same float32 additions. Repeating
    costs ~4 us, more than it saves on a small output or a bias of over LONG_RUN / 4."""
    rows = out.reshape(-1, bias.size) if out.flags.c_contiguous else None
    per_row = LONG_RUN // max(1, bias.size)
    if rows is None or per_row < 4 or out.size < MIN_REPEATED:
        np.add(out, bias, out=out)
        return
    whole = len(rows) - len(rows) % per_row
    runs = rows[:whole].reshape(-1, per_row * bias.size)
    np.add(runs, np.tile(bias, per_row), out=runs)
    np.add(rows[whole:], bias, out=rows[whole:])


def bias_and_activation(bias, activation):
    """A function adding `bias` along the last axis of an output and applying `activation`
    ('linear' or 'relu'), both in place."""
    relu = activation == "relu"

    def apply(out):
        add_bias(out, bias)
        if relu:
            np.maximum(out, 0, out=out)  # a Python scalar never widens out's dtype

    return apply


@register_kernel("FusedMatMul", "numpy")
def fused_matmul(a, b, bias, transpose_a, transpose_b, activation):
    out = batch_matmul(a, b, transpose_a, transpose_b)
    bias_and_activation(bias, activation)(out)
    return out


@register_kernel("FusedConv2D", "numpy")
def fused_conv2d(x, filter, bias, strides, padding, dilations, activation):  # noqa: A002
    return conv2d(x, filter, strides, padding, dilations,
                  epilogue=bias_and_activation(bias, activation))


@register_kernel("SigmoidGrad", "numpy")
def sigmoid_grad(dy, y):
    """dy * (y * (1 - y)) in one fresh array, the unfused ops' float32 operations."""
    out = np.subtract(1, y)
    out *= y
    out *= dy
    return out


@register_kernel("TanhGrad", "numpy")
def tanh_grad(dy, y):
    """dy * (1 - y * y) in one fresh array, the unfused ops' float32 operations."""
    out = np.square(y)
    np.subtract(1, out, out)
    out *= dy
    return out


@register_kernel("ReluGrad", "numpy")
def relu_grad(dy, y):
    """dy times the mask y > 0, written as 0/1 in dy's dtype and multiplied in place: 0.82 ms
    on a 64x26x26x32 float32 gradient, where np.where takes 5.2 ms (one core, shared machine);
    a bool mask multiplied with casting costs 20% more (64x26x26x8: 213 -> 175 us). As in TF's
    CPU kernel, which also multiplies by the mask, a non-finite dy where y <= 0 gives NaN."""
    mask = np.empty(dy.shape, dy.dtype)
    np.greater(y, 0, out=mask, casting="unsafe")
    mask *= dy
    return mask
