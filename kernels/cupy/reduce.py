"""CuPy reduction kernels: axis reductions, arg reductions and the running sum.

An empty `axis` reduces nothing: the result is x itself (in the reduction's dtype), handled
here so no CuPy version's treatment of `axis=()` matters.
"""
from engine.backends import cupy_backend
from engine.kernels.numpy.reduce import running_sum
from engine.registry import register_kernel


def _reduction(name, result_dtype, in_own_dtype=False):
    """Kernel for cupy.<name>(x, axis, keepdims); sums and products accumulate in x's dtype."""

    def kernel(x, axis, keepdims):
        if not axis:
            return x.astype(result_dtype(x), copy=True)
        reduce = getattr(cupy_backend.cp, name)
        if in_own_dtype:
            return reduce(x, axis=axis, keepdims=keepdims, dtype=x.dtype)
        return reduce(x, axis=axis, keepdims=keepdims)

    return kernel


def _own_dtype(x):
    return x.dtype


def _bool(x):
    return cupy_backend.cp.bool_


register_kernel("Sum", "cupy")(_reduction("sum", _own_dtype, in_own_dtype=True))
register_kernel("Prod", "cupy")(_reduction("prod", _own_dtype, in_own_dtype=True))
register_kernel("Max", "cupy")(_reduction("max", _own_dtype))
register_kernel("Min", "cupy")(_reduction("min", _own_dtype))
register_kernel("All", "cupy")(_reduction("all", _bool))
register_kernel("Any", "cupy")(_reduction("any", _bool))


@register_kernel("Mean", "cupy")
def reduce_mean(x, axis, keepdims):
    cp = cupy_backend.cp
    if not axis:
        return x.copy()
    if x.size == 0:  # the mean of nothing is nan
        shape = tuple(1 if i in axis else d for i, d in enumerate(x.shape)
                      if keepdims or i not in axis)
        return cp.full(shape, cp.nan, dtype=x.dtype)
    # As in NumPy: float16 means accumulate in float32, integer means in float64.
    accumulate = {"float16": cp.float32, "float32": cp.float32}.get(x.dtype.name, cp.float64)
    return cp.mean(x, axis=axis, keepdims=keepdims, dtype=accumulate).astype(x.dtype, copy=False)


@register_kernel("ArgMax", "cupy")
def arg_max(x, axis):
    return cupy_backend.cp.argmax(x, axis=axis).astype(cupy_backend.cp.int32)


@register_kernel("ArgMin", "cupy")
def arg_min(x, axis):
    return cupy_backend.cp.argmin(x, axis=axis).astype(cupy_backend.cp.int32)


@register_kernel("Cumsum", "cupy")
def cumsum(x, axis, exclusive, reverse):
    return running_sum(cupy_backend.cp, x, axis, exclusive, reverse)
