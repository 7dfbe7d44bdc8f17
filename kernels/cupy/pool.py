"""CuPy pooling kernels (kernels/cuda/pool.cu): one thread per output cell forward, and a
gather per input cell backward (deterministic, no atomics). Padded cells never win a max and
are not counted in an average. float16 widens to float32 inside the kernels' inputs."""
from engine.backends import cupy_backend
from engine.kernels import cuda
from engine.kernels.cupy.conv import compute_dtype, dense, output_size
from engine.registry import register_kernel

_NO_DILATION = (1, 1)


def pool_args(input_shape, out_hw, pool_size, strides, padding):
    """h, w, c, oh, ow, kh, kw, sh, sw, pad top, pad left for pool.cu."""
    _, h, w, c = input_shape
    return cuda.ints(h, w, c, *out_hw, *pool_size, *strides, padding[0][0], padding[1][0])


def _pool(kernel_name, x, pool_size, strides, padding):
    cp = cupy_backend.cp
    work = compute_dtype(x.dtype.name)
    out_hw = output_size(x.shape[1:3], pool_size, strides, padding, _NO_DILATION)
    y = cp.empty((x.shape[0],) + out_hw + (x.shape[3],), dtype=work)
    cuda.launch(cuda.function("pool", kernel_name, work), y.size, dense(x, work), y,
                cp.int64(y.size), *pool_args(x.shape, out_hw, pool_size, strides, padding))
    return y.astype(x.dtype, copy=False)


@register_kernel("MaxPool", "cupy")
def max_pool(x, pool_size, strides, padding):
    return _pool("max_pool", x, pool_size, strides, padding)


@register_kernel("AvgPool", "cupy")
def avg_pool(x, pool_size, strides, padding):
    return _pool("avg_pool", x, pool_size, strides, padding)


@register_kernel("MaxPoolGrad", "cupy")
def max_pool_grad(x, y, dy, pool_size, strides, padding):
    """dy routed to the first maximum of each window, recomputed from x (TF's tie rule)."""
    cp = cupy_backend.cp
    work = compute_dtype(x.dtype.name)
    dx = cp.empty(x.shape, dtype=work)
    cuda.launch(cuda.function("pool", "max_pool_grad", work), dx.size, dense(x, work),
                dense(dy, work), dx, cp.int64(dx.size),
                *pool_args(x.shape, dy.shape[1:3], pool_size, strides, padding))
    return dx.astype(x.dtype, copy=False)


@register_kernel("AvgPoolGrad", "cupy")
def avg_pool_grad(dy, input_shape, pool_size, strides, padding):
    cp = cupy_backend.cp
    work = compute_dtype(dy.dtype.name)
    dx = cp.empty(input_shape, dtype=work)
    cuda.launch(cuda.function("pool", "avg_pool_grad", work), dx.size, dense(dy, work), dx,
                cp.int64(dx.size), *pool_args(input_shape, dy.shape[1:3], pool_size, strides,
                                              padding))
    return dx.astype(dy.dtype, copy=False)
