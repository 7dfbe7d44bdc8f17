"""CuPy neural-network kernels: softmax family, batch norm, cross-entropy and one-hot.

Softmax and the cross-entropies compute float16 in float32; each is a few fused CuPy passes.
"""
from engine.backends import cupy_backend
from engine.kernels.cupy.elementwise import define_fused, fused, run_fused
from engine.registry import register_kernel


def _widened(x):
    """x in the dtype the arithmetic runs in: float16 widens to float32."""
    cp = cupy_backend.cp
    return x.astype(cp.float32) if x.dtype == cp.float16 else x


def log_softmax(logits, axis):
    """Numerically stable log-softmax in the widened dtype."""
    cp = cupy_backend.cp
    x = _widened(logits)
    shifted = x - cp.max(x, axis=axis, keepdims=True)
    return shifted - cp.log(cp.sum(cp.exp(shifted), axis=axis, keepdims=True))


@register_kernel("Softmax", "cupy")
def softmax(logits, axis):
    cp = cupy_backend.cp
    x = _widened(logits)
    exps = cp.exp(x - cp.max(x, axis=axis, keepdims=True))
    return (exps / cp.sum(exps, axis=axis, keepdims=True)).astype(logits.dtype, copy=False)


@register_kernel("LogSoftmax", "cupy")
def log_softmax_kernel(logits, axis):
    return log_softmax(logits, axis).astype(logits.dtype, copy=False)


@register_kernel("SoftmaxCrossEntropy", "cupy")
def softmax_cross_entropy(logits, labels):
    cp = cupy_backend.cp
    losses = -cp.sum(_widened(labels) * log_softmax(logits, -1), axis=-1)
    return losses.astype(logits.dtype, copy=False)


@register_kernel("SparseSoftmaxCrossEntropy", "cupy")
def sparse_softmax_cross_entropy(logits, labels):
    """The loss per row and its gradient softmax - one_hot(label); NaN rows for labels out of
    range."""
    cp = cupy_backend.cp
    depth = logits.shape[-1]
    log_probabilities = log_softmax(logits, -1)
    inside = (labels >= 0) & (labels < depth)
    safe = (labels * inside).astype(cp.int64)[..., None]  # out of range: class 0, then NaN
    loss = -cp.take_along_axis(log_probabilities, safe, -1)[..., 0]
    backprop = cp.exp(log_probabilities) - (safe == cp.arange(depth))
    outside = ~inside
    loss[outside] = cp.nan
    backprop[outside] = cp.nan
    return loss.astype(logits.dtype, copy=False), backprop.astype(logits.dtype, copy=False)


_BATCH_NORM = define_fused("batch_norm",
                           "y = (x - mean) * (scale / sqrt(variance + T(epsilon))) + offset",
                           "T x, T mean, T variance, T offset, T scale, float64 epsilon")
_ONE_HOT = define_fused("one_hot", "y = index == column ? T(on) : T(off)",
                        "I index, I column, float64 on, float64 off")


@register_kernel("BatchNorm", "cupy")
def batch_norm(x, mean, variance, offset, scale, epsilon):
    return run_fused(fused(_BATCH_NORM), x, mean, variance, offset, scale, epsilon)


@register_kernel("OneHot", "cupy")
def one_hot(indices, depth, on_value, off_value, dtype):
    cp = cupy_backend.cp
    out = cp.empty(indices.shape + (depth,), dtype=dtype)
    columns = cp.arange(depth, dtype=indices.dtype)
    fused(_ONE_HOT)(indices[..., None], columns, on_value, off_value, out)
    return out
