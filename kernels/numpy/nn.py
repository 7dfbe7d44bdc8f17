"""NumPy kernels for softmax, batch norm, one-hot and the softmax cross-entropies."""
import numpy as np

from engine.registry import register_kernel


@register_kernel("LogSoftmax", "numpy")
def log_softmax(logits, axis):
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


@register_kernel("Softmax", "numpy")
def softmax(logits, axis):
    exps = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return exps / exps.sum(axis=axis, keepdims=True)


@register_kernel("BatchNorm", "numpy")
def batch_norm(x, mean, variance, offset, scale, epsilon):
    multiplier = scale / np.sqrt(variance + np.asarray(epsilon, variance.dtype))
    return (x - mean) * multiplier + offset


@register_kernel("OneHot", "numpy")
def one_hot(indices, depth, on_value, off_value, dtype):
    hits = indices[..., None] == np.arange(depth)
    return np.where(hits, np.asarray(on_value, dtype), np.asarray(off_value, dtype))


@register_kernel("SoftmaxCrossEntropy", "numpy")
def softmax_cross_entropy(logits, labels):
    return -(labels * log_softmax(logits, logits.ndim - 1)).sum(axis=-1)


@register_kernel("SparseSoftmaxCrossEntropy", "numpy")
def sparse_softmax_cross_entropy(logits, labels):
    """Out-of-range labels give NaN (as TensorFlow on GPU) rather than reading other memory."""
    depth = logits.shape[-1]
    inside = (labels >= 0) & (labels < depth)
    picked = np.take_along_axis(log_softmax(logits, logits.ndim - 1),
                                np.where(inside, labels, 0)[..., None], axis=-1)[..., 0]
    return np.where(inside, -picked, np.asarray(np.nan, logits.dtype))
