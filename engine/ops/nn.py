"""Neural-network ops: softmax, batch norm, dropout, one-hot and cross-entropies, with their
gradients beside them."""
from engine import dtypes
from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.ops.elementwise import (abs, add, cast, exp, greater_equal, log1p, mul, neg, relu,
                                    rsqrt, sub)
from engine.ops.reduce import sum as reduce_sum
from engine.ops.shape import reshape
from engine.registry import register_gradient

__all__ = ["softmax", "log_softmax", "batch_norm", "dropout", "one_hot",
           "softmax_cross_entropy", "sparse_softmax_cross_entropy", "sigmoid_cross_entropy"]


def _float_input(op_name, name, value):
    tensor = convert_to_tensor(value)
    if not dtypes.is_floating(tensor.dtype):
        raise TypeError(f"Error in {op_name}: {name} must be floating point, got {tensor.dtype}")
    return tensor


def _axis(op_name, axis, rank):
    if not -rank <= axis < rank or rank == 0:
        raise ValueError(f"Error in {op_name}: axis {axis} is out of range for a tensor of "
                         f"rank {rank}")
    return axis % rank


def _expand_last(t):
    return reshape(t, t.shape + (1,))


# ---------------------------------------------------------------------------- softmax

def softmax(logits, axis=-1):
    """exp(logits) / sum(exp(logits)) along `axis`, computed stably."""
    logits = _float_input("softmax", "logits", logits)
    return run_kernel("Softmax", (logits,), axis=_axis("softmax", axis, logits.ndim))


def log_softmax(logits, axis=-1):
    """logits - logsumexp(logits) along `axis`, computed stably."""
    logits = _float_input("log_softmax", "logits", logits)
    return run_kernel("LogSoftmax", (logits,), axis=_axis("log_softmax", axis, logits.ndim))


@register_gradient("Softmax")
def _softmax_grad(dy, node):
    y = node.outputs[0]
    return mul(y, sub(dy, reduce_sum(mul(dy, y), node.attrs["axis"], keepdims=True)))


@register_gradient("LogSoftmax")
def _log_softmax_grad(dy, node):
    probabilities = exp(node.outputs[0])
    return sub(dy, mul(probabilities, reduce_sum(dy, node.attrs["axis"], keepdims=True)))


# ---------------------------------------------------------------------------- batch norm

def batch_norm(x, mean, variance, offset=None, scale=None, epsilon=1e-3):
    """(x - mean) * scale / sqrt(variance + epsilon) + offset, statistics of shape (C,)."""
    from engine.ops.creation import ones, zeros

    x = _float_input("batch_norm", "x", x)
    if x.ndim == 0:
        raise ValueError("Error in batch_norm: x must have a channel axis, got a scalar")
    channels = x.shape[-1]
    offset = zeros((channels,), x.dtype) if offset is None else offset
    scale = ones((channels,), x.dtype) if scale is None else scale
    stats = {}
    for name, value in (("mean", mean), ("variance", variance), ("offset", offset),
                        ("scale", scale)):
        stat = convert_to_tensor(value, dtype=x.dtype, like=x)
        if stat.shape != (channels,):
            raise ValueError(f"Error in batch_norm: {name} must have shape ({channels},) to "
                             f"match the last axis of x {x.shape}, got {stat.shape}")
        stats[name] = stat
    if epsilon <= 0:
        raise ValueError(f"Error in batch_norm: epsilon must be positive, got {epsilon}")
    return run_kernel("BatchNorm", (x, stats["mean"], stats["variance"], stats["offset"],
                                    stats["scale"]), epsilon=float(epsilon))


@register_gradient("BatchNorm")
def _batch_norm_grad(dy, node):
    x, mean, variance, _, scale = node.inputs
    needs = node.needs
    leading = tuple(range(x.ndim - 1))
    inv_std = rsqrt(add(variance, node.attrs["epsilon"]))
    centred = sub(x, mean) if needs[2] or needs[4] else None
    d_x = mul(dy, mul(scale, inv_std)) if needs[0] or needs[1] else None
    d_mean = neg(reduce_sum(d_x, leading)) if needs[1] else None
    d_variance = None
    if needs[2]:
        half_cubed = mul(mul(inv_std, mul(inv_std, inv_std)), -0.5)
        d_variance = mul(reduce_sum(mul(dy, centred), leading), mul(scale, half_cubed))
    d_offset = reduce_sum(dy, leading) if needs[3] else None
    d_scale = reduce_sum(mul(dy, mul(centred, inv_std)), leading) if needs[4] else None
    return (d_x if needs[0] else None), d_mean, d_variance, d_offset, d_scale


# ---------------------------------------------------------------------------- dropout

def dropout(x, rate, seed=None, noise_shape=None):
    """Zero each element with probability `rate`, scale the rest by 1 / (1 - rate).

    `noise_shape` (broadcastable to x) shares one keep decision along its size-1 axes.
    """
    from engine.ops.random import random_uniform

    x = _float_input("dropout", "x", x)
    if not 0 <= rate < 1:
        raise ValueError(f"Error in dropout: rate must be in [0, 1), got {rate}")
    if rate == 0:
        return x
    noise_shape = x.shape if noise_shape is None else tuple(int(d) for d in noise_shape)
    if len(noise_shape) != x.ndim or any(n not in (1, d) for n, d in zip(noise_shape, x.shape)):
        raise ValueError(f"Error in dropout: noise_shape {noise_shape} must be broadcastable to "
                         f"x's shape {x.shape}, with each dimension 1 or equal")
    uniform = random_uniform(noise_shape, 0.0, 1.0, x.dtype, seed)
    keep = cast(greater_equal(uniform, rate), x.dtype)
    return mul(x, mul(keep, 1.0 / (1.0 - rate)))


# ---------------------------------------------------------------------------- one-hot

def one_hot(indices, depth, on_value=1, off_value=0, dtype="float32"):
    """A new last axis of size `depth`: on_value at each index, off_value elsewhere (also for
    indices outside [0, depth))."""
    indices = convert_to_tensor(indices)
    if indices.dtype not in ("int32", "int64"):
        raise TypeError(f"Error in one_hot: indices must be int32 or int64, got {indices.dtype}")
    if int(depth) != depth or depth < 1:
        raise ValueError(f"Error in one_hot: depth must be a positive int, got {depth}")
    return run_kernel("OneHot", (indices,), depth=int(depth), on_value=on_value,
                      off_value=off_value, dtype=dtypes.as_dtype(dtype))


# ---------------------------------------------------------------------------- cross-entropies

def softmax_cross_entropy(labels, logits):
    """Per-example -sum(labels * log_softmax(logits)) over the last axis."""
    logits = _float_input("softmax_cross_entropy", "logits", logits)
    labels = convert_to_tensor(labels, dtype=logits.dtype, like=logits)
    if labels.shape != logits.shape or logits.ndim == 0:
        raise ValueError(f"Error in softmax_cross_entropy: labels {labels.shape} and logits "
                         f"{logits.shape} must have one shape with a class axis")
    return run_kernel("SoftmaxCrossEntropy", (logits, labels))


def sparse_softmax_cross_entropy(labels, logits):
    """Per-example -log_softmax(logits)[label], labels int class indices of logits.shape[:-1]."""
    logits = _float_input("sparse_softmax_cross_entropy", "logits", logits)
    labels = convert_to_tensor(labels, like=logits)
    if labels.dtype not in ("int32", "int64"):
        raise TypeError(f"Error in sparse_softmax_cross_entropy: labels must be integer class "
                        f"indices, got {labels.dtype}")
    if logits.ndim == 0 or labels.shape != logits.shape[:-1]:
        raise ValueError(f"Error in sparse_softmax_cross_entropy: labels of shape "
                         f"{labels.shape} must match logits {logits.shape} without its last "
                         f"axis")
    return run_kernel("SparseSoftmaxCrossEntropy", (logits, cast(labels, "int32")))[0]


def sigmoid_cross_entropy(labels, logits):
    """Elementwise binary cross-entropy of sigmoid(logits), as max(x, 0) - x*z + log1p(e^-|x|)."""
    logits = _float_input("sigmoid_cross_entropy", "logits", logits)
    labels = convert_to_tensor(labels, dtype=logits.dtype, like=logits)
    if labels.shape != logits.shape:
        raise ValueError(f"Error in sigmoid_cross_entropy: labels {labels.shape} and logits "
                         f"{logits.shape} must have one shape")
    return add(sub(relu(logits), mul(logits, labels)), log1p(exp(neg(abs(logits)))))


@register_gradient("SoftmaxCrossEntropy")
def _softmax_cross_entropy_grad(dy, node):
    logits, labels = node.inputs
    dy = _expand_last(dy)
    d_logits = None
    if node.needs[0]:  # softmax - labels when each row of labels sums to one
        label_mass = reduce_sum(labels, -1, keepdims=True)
        d_logits = mul(dy, sub(mul(softmax(logits), label_mass), labels))
    d_labels = neg(mul(dy, log_softmax(logits))) if node.needs[1] else None
    return d_logits, d_labels


@register_gradient("SparseSoftmaxCrossEntropy")
def _sparse_softmax_cross_entropy_grad(dy, node):
    """dy times the backprop the kernel made beside the loss (its own gradient is unused)."""
    return mul(_expand_last(dy[0]), node.outputs[1]), None
