"""OpenCL pooling: one work-item per output cell forward, one per input cell backward
(gathering from the windows that hold it, so no atomics)."""
from engine.kernels.opencl import program, strided
from engine.kernels.opencl.conv import geometry, kernel, output_size
from engine.registry import register_kernel


def _pool(name, x, pool_size, strides, padding):
    x = strided.dense(x)
    out_hw = output_size(x.shape[1:3], pool_size, strides, padding, (1, 1))
    y = program.empty((x.shape[0],) + out_hw + (x.shape[3],), x.dtype)
    program.launch(kernel(name, x.dtype, "pool.cl"), (y.size,), None, x.data, y.data,
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
    x, dy = strided.dense(x), strided.dense(dy)
    dx = program.empty(x.shape, dy.dtype)
    program.launch(kernel("max_pool_grad", x.dtype, "pool.cl"), (dx.size,), None, x.data,
                   dy.data, dx.data,
                   *geometry(x.shape, dy.shape[1:3], pool_size, strides, padding, (1, 1)))
    return dx


@register_kernel("AvgPoolGrad", "opencl")
def avg_pool_grad(dy, input_shape, pool_size, strides, padding):
    dy = strided.dense(dy)
    dx = program.empty(input_shape, dy.dtype)
    program.launch(kernel("avg_pool_grad", dy.dtype, "pool.cl"), (dx.size,), None, dy.data,
                   dx.data,
                   *geometry(input_shape, dy.shape[1:3], pool_size, strides, padding, (1, 1)))
    return dx
