"""OpenCL pooling: one work-item per output cell forward, one per input cell backward
(gathering from the windows that hold it, so no atomics); disjoint max-pool windows write
their own cells' gradient in one pass."""
from engine.kernels.opencl import program, strided
from engine.kernels.opencl.conv import geometry, kernel, output_size
from engine.kernels.opencl.creation import filled
from engine.registry import register_kernel


def _cells(shape):
    """The 3-D range (C, W, N * H) over the cells of an NHWC shape."""
    n, h, w, c = shape
    return (c, w, n * h)


def _launch(name, dtype, shape, *args):
    program.launch(kernel(name, dtype, "pool.cl"), _cells(shape), None, *args)


def _pool(name, x, pool_size, strides, padding):
    x = strided.dense(x)
    out_hw = output_size(x.shape[1:3], pool_size, strides, padding, (1, 1))
    y = program.empty((x.shape[0],) + out_hw + (x.shape[3],), x.dtype)
    _launch(name, x.dtype, y.shape, x.data, y.data,
            *geometry(x.shape, out_hw, pool_size, strides, padding, (1, 1)))
    return y


@register_kernel("MaxPool", "opencl")
def max_pool(x, pool_size, strides, padding):
    return _pool("max_pool", x, pool_size, strides, padding)


@register_kernel("AvgPool", "opencl")
def avg_pool(x, pool_size, strides, padding):
    return _pool("avg_pool", x, pool_size, strides, padding)


@register_kernel("MaxPoolGrad", "opencl")
def max_pool_grad(x, y, dy, pool_size, strides, padding):
    """Disjoint windows write their own cells in one pass; overlapping ones find each window's
    first maximum once, then every input cell gathers dy from the windows that chose it."""
    x, dy = strided.dense(x), strided.dense(dy)
    shape = geometry(x.shape, dy.shape[1:3], pool_size, strides, padding, (1, 1))
    if all(s >= k for s, k in zip(strides, pool_size)):
        covered = not any(map(any, padding)) and all(
            out * s == size and s == k
            for out, s, k, size in zip(dy.shape[1:3], strides, pool_size, x.shape[1:3]))
        dx = program.empty(x.shape, dy.dtype) if covered else filled(x.shape, 0, dy.dtype)
        _launch("max_pool_grad_disjoint", x.dtype, dy.shape, x.data, dy.data, dx.data, *shape)
        return dx
    winners = program.empty(dy.shape, "int32")
    _launch("max_pool_winners", x.dtype, dy.shape, x.data, winners.data, *shape)
    dx = program.empty(x.shape, dy.dtype)
    _launch("max_pool_grad", x.dtype, x.shape, winners.data, dy.data, dx.data, *shape)
    return dx


@register_kernel("AvgPoolGrad", "opencl")
def avg_pool_grad(dy, input_shape, pool_size, strides, padding):
    dy = strided.dense(dy)
    dx = program.empty(input_shape, dy.dtype)
    _launch("avg_pool_grad", dy.dtype, input_shape, dy.data, dx.data,
            *geometry(input_shape, dy.shape[1:3], pool_size, strides, padding, (1, 1)))
    return dx
