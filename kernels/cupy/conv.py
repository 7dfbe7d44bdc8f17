"""CuPy convolution kernels: im2col (kernels/cuda/conv.cu) + one cuBLAS GEMM, and direct
depthwise kernels (kernels/cuda/depthwise.cu).

CuPy 14 has no cuDNN. Conv2D gathers patches into a (N*OH*OW, KH*KW*C) matrix and multiplies
it by the HWIO filter viewed as (KH*KW*C, O); its gradients are the two transposed GEMMs, with
col2im (a gather, no atomics) folding the input gradient back. 1x1 stride-1 unpadded
convolutions are plain GEMMs. Raw kernels run in float32 or float64; float16 widens to float32.
"""
import math

from engine.backends import cupy_backend
from engine.kernels import cuda
from engine.registry import register_kernel


def compute_dtype(dtype):
    """The dtype the raw CUDA kernels run in for `dtype`."""
    return "float64" if dtype == "float64" else "float32"


def dense(array, dtype):
    """A C-contiguous copy (or the array itself) in `dtype`, as raw kernels index densely."""
    return cupy_backend.cp.ascontiguousarray(array, dtype=dtype)


def output_size(input_hw, kernel_hw, strides, padding, dilations):
    return tuple((size + sum(pad) - (k - 1) * d - 1) // s + 1
                 for size, k, s, pad, d in zip(input_hw, kernel_hw, strides, padding, dilations))


def window_args(input_shape, out_hw, kernel_hw, strides, padding, dilations):
    """The int arguments the window kernels share: h, w, c, oh, ow, kh, kw, sh, sw, dh, dw,
    pad top, pad left."""
    _, h, w, c = input_shape
    return cuda.ints(h, w, c, *out_hw, *kernel_hw, *strides, *dilations, padding[0][0],
                     padding[1][0])


def _is_pointwise(kernel_hw, strides, padding):
    return kernel_hw == (1, 1) and strides == (1, 1) and not any(map(any, padding))


def _im2col(x, kernel_hw, out_hw, strides, padding, dilations):
    """Rows of the GEMM: one per output cell, KH*KW*C values each."""
    cp = cupy_backend.cp
    n, _, _, c = x.shape
    rows = n * out_hw[0] * out_hw[1]
    col = cp.empty((rows, kernel_hw[0] * kernel_hw[1] * c), dtype=x.dtype)
    kernel = cuda.function("conv", "im2col", x.dtype)
    cuda.launch(kernel, col.size, x, col, cp.int64(col.size),
                *window_args(x.shape, out_hw, kernel_hw, strides, padding, dilations))
    return col


def _rows(x, kernel_hw, out_hw, strides, padding, dilations):
    if _is_pointwise(kernel_hw, strides, padding):
        return x.reshape(math.prod(x.shape[:3]), x.shape[3])
    return _im2col(x, kernel_hw, out_hw, strides, padding, dilations)


@register_kernel("Conv2D", "cupy")
def conv2d(x, filter, strides, padding, dilations):  # noqa: A002
    kh, kw, _, out_channels = filter.shape
    work = compute_dtype(x.dtype.name)
    x_work = dense(x, work)
    out_hw = output_size(x.shape[1:3], (kh, kw), strides, padding, dilations)
    rows = _rows(x_work, (kh, kw), out_hw, strides, padding, dilations)
    y = rows @ dense(filter, work).reshape(rows.shape[1], out_channels)
    return y.reshape((x.shape[0],) + out_hw + (out_channels,)).astype(x.dtype, copy=False)


@register_kernel("Conv2DBackpropFilter", "cupy")
def conv2d_backprop_filter(x, dy, filter_shape, strides, padding, dilations):
    kh, kw, _, out_channels = filter_shape
    work = compute_dtype(x.dtype.name)
    rows = _rows(dense(x, work), (kh, kw), dy.shape[1:3], strides, padding, dilations)
    grad = rows.T @ dense(dy, work).reshape(rows.shape[0], out_channels)
    return grad.reshape(filter_shape).astype(x.dtype, copy=False)


@register_kernel("Conv2DBackpropInput", "cupy")
def conv2d_backprop_input(dy, filter, input_shape, strides, padding, dilations):  # noqa: A002
    cp = cupy_backend.cp
    kh, kw, _, out_channels = filter.shape
    work = compute_dtype(dy.dtype.name)
    columns = dense(dy, work).reshape(math.prod(dy.shape[:3]), out_channels) @ dense(
        filter, work).reshape(kh * kw * filter.shape[2], out_channels).T
    if _is_pointwise((kh, kw), strides, padding):
        return columns.reshape(input_shape).astype(dy.dtype, copy=False)
    dx = cp.empty(input_shape, dtype=work)
    kernel = cuda.function("conv", "col2im", work)
    cuda.launch(kernel, dx.size, cp.ascontiguousarray(columns), dx, cp.int64(dx.size),
                *window_args(input_shape, dy.shape[1:3], (kh, kw), strides, padding, dilations))
    return dx.astype(dy.dtype, copy=False)


@register_kernel("Conv2DBackprop", "cupy")
def conv2d_backprop(x, dy, filter, strides, padding, dilations):  # noqa: A002
    return (conv2d_backprop_input(dy, filter, x.shape, strides, padding, dilations),
            conv2d_backprop_filter(x, dy, filter.shape, strides, padding, dilations))


def _depthwise_args(input_shape, filter_shape, out_hw, strides, padding, dilations):
    """h, w, c, m, oh, ow, kh, kw, sh, sw, dh, dw, pad top, pad left for depthwise.cu."""
    _, h, w, c = input_shape
    kh, kw, _, multiplier = filter_shape
    return cuda.ints(h, w, c, multiplier, *out_hw, kh, kw, *strides, *dilations, padding[0][0],
                     padding[1][0])


@register_kernel("DepthwiseConv2dNative", "cupy")
def depthwise_conv2d(x, filter, strides, padding, dilations):  # noqa: A002
    cp = cupy_backend.cp
    kh, kw, channels, multiplier = filter.shape
    work = compute_dtype(x.dtype.name)
    out_hw = output_size(x.shape[1:3], (kh, kw), strides, padding, dilations)
    y = cp.empty((x.shape[0],) + out_hw + (channels * multiplier,), dtype=work)
    kernel = cuda.function("depthwise", "depthwise_forward", work)
    cuda.launch(kernel, y.size, dense(x, work), dense(filter, work), y, cp.int64(y.size),
                *_depthwise_args(x.shape, filter.shape, out_hw, strides, padding, dilations))
    return y.astype(x.dtype, copy=False)


@register_kernel("DepthwiseConv2dNativeBackpropInput", "cupy")
def depthwise_conv2d_backprop_input(dy, filter, input_shape, strides, padding,  # noqa: A002
                                    dilations):
    cp = cupy_backend.cp
    work = compute_dtype(dy.dtype.name)
    dx = cp.empty(input_shape, dtype=work)
    kernel = cuda.function("depthwise", "depthwise_backprop_input", work)
    cuda.launch(kernel, dx.size, dense(dy, work), dense(filter, work), dx, cp.int64(dx.size),
                *_depthwise_args(input_shape, filter.shape, dy.shape[1:3], strides, padding,
                                 dilations))
    return dx.astype(dy.dtype, copy=False)


@register_kernel("DepthwiseConv2dNativeBackpropFilter", "cupy")
def depthwise_conv2d_backprop_filter(x, dy, filter_shape, strides, padding, dilations):
    cp = cupy_backend.cp
    work = compute_dtype(x.dtype.name)
    grad = cp.empty(filter_shape, dtype=work)
    kernel = cuda.function("depthwise", "depthwise_backprop_filter", work)
    cuda.launch_blocks(kernel, grad.size, dense(x, work), dense(dy, work), grad,
                       *cuda.ints(grad.size, x.shape[0]),
                       *_depthwise_args(x.shape, filter_shape, dy.shape[1:3], strides, padding,
                                        dilations))
    return grad.astype(x.dtype, copy=False)
