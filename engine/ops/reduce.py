"""Reductions over an axis set: sum, mean, prod, max, min, all, any, argmax, argmin, cumsum,
and the composites logsumexp, variance and moments, with their gradients beside them."""
import builtins
import math
import operator

from engine import dtypes
from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.registry import register_gradient

__all__ = ["sum", "mean", "prod", "max", "min", "all", "any", "argmax", "argmin", "cumsum",
           "logsumexp", "variance", "moments"]


# ---------------------------------------------------------------------------- validation

def normalize_axes(op_name, axis, rank):
    """`axis` (None, int or sequence, negatives allowed) as a sorted tuple of distinct axes.

    A scalar has no axes: axis 0 or -1 on it reduces nothing, as in TF.js.
    """
    if axis is None:
        return tuple(range(rank))
    if _is_int(axis):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)) and builtins.all(_is_int(a) for a in axis):
        axes = tuple(axis)
    else:
        raise TypeError(f"Error in {op_name}: axis must be an int or a tuple of ints, got "
                        f"{axis!r}")
    normalized = []
    for a in axes:
        a = operator.index(a)
        limit = builtins.max(rank, 1)
        if not -limit <= a < limit:
            raise ValueError(f"Error in {op_name}: axis {a} is out of range for a tensor of "
                             f"rank {rank}")
        if rank:
            normalized.append(a % rank)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"Error in {op_name}: axis {axis} repeats an axis")
    return tuple(sorted(normalized))


def normalize_axis(op_name, axis, rank):
    """One axis (negatives allowed) of a tensor of rank >= 1, as a non-negative int."""
    if not _is_int(axis):
        raise TypeError(f"Error in {op_name}: axis must be one int, got {axis!r}")
    if rank == 0:
        raise ValueError(f"Error in {op_name}: needs a tensor of rank >= 1, got a scalar")
    return normalize_axes(op_name, axis, rank)[0]


def _is_int(value):
    if type(value) is int:  # the common case; hasattr on a tuple raises and catches inside
        return True
    return hasattr(value, "__index__") and not isinstance(value, bool)


def kept_shape(shape, axes):
    """`shape` with the reduced `axes` set to 1 (the keepdims shape)."""
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def _require_nonempty(op_name, x, axes):
    if builtins.any(x.shape[a] == 0 for a in axes):
        raise ValueError(f"Error in {op_name}: cannot reduce over an empty axis of a tensor of "
                         f"shape {x.shape}")


def _require_dtype(op_name, x, allowed, wanted):
    if x.dtype not in allowed:
        raise TypeError(f"Error in {op_name}: expected {wanted} tensor, got {x.dtype}")


def _numeric(op_name, x):
    """Bool counts as int32 in arithmetic reductions (TF.js's sum of a bool tensor)."""
    from engine.ops.elementwise import cast

    return cast(x, dtypes.int32) if x.dtype == dtypes.bool_ else x


def _reduce(kernel_name, op_name, x, axis, keepdims, prepare=None):
    x = convert_to_tensor(x)
    if prepare is not None:
        x = prepare(op_name, x)
    axes = normalize_axes(op_name, axis, x.ndim)
    return run_kernel(kernel_name, (x,), axis=axes, keepdims=bool(keepdims))


# ---------------------------------------------------------------------------- reductions

def sum(x, axis=None, keepdims=False):  # noqa: A001  (public name matches TF.js and NumPy)
    """Sum over `axis` (all axes when None); a bool tensor sums as int32."""
    return _reduce("Sum", "sum", x, axis, keepdims, _numeric)


def mean(x, axis=None, keepdims=False):
    """Mean over `axis`; integer and bool tensors give float32 (an empty axis gives nan)."""
    from engine.ops.elementwise import cast

    def to_float(op_name, t):
        return t if dtypes.is_floating(t.dtype) else cast(t, dtypes.float32)

    return _reduce("Mean", "mean", x, axis, keepdims, to_float)


def prod(x, axis=None, keepdims=False):
    """Product over `axis`; a bool tensor multiplies as int32."""
    return _reduce("Prod", "prod", x, axis, keepdims, _numeric)


def max(x, axis=None, keepdims=False):  # noqa: A001
    """Largest value over `axis` (a non-empty one)."""
    x = convert_to_tensor(x)
    _require_nonempty("max", x, normalize_axes("max", axis, x.ndim))
    return _reduce("Max", "max", x, axis, keepdims)


def min(x, axis=None, keepdims=False):  # noqa: A001
    """Smallest value over `axis` (a non-empty one)."""
    x = convert_to_tensor(x)
    _require_nonempty("min", x, normalize_axes("min", axis, x.ndim))
    return _reduce("Min", "min", x, axis, keepdims)


def _require_bool(op_name, x):
    _require_dtype(op_name, x, (dtypes.bool_,), "a bool")
    return x


def all(x, axis=None, keepdims=False):  # noqa: A001
    """Logical and over `axis` of a bool tensor."""
    return _reduce("All", "all", x, axis, keepdims, _require_bool)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """Logical or over `axis` of a bool tensor."""
    return _reduce("Any", "any", x, axis, keepdims, _require_bool)


def _arg_reduce(kernel_name, op_name, x, axis):
    x = convert_to_tensor(x)
    axis = normalize_axis(op_name, axis, x.ndim)
    _require_nonempty(op_name, x, (axis,))
    return run_kernel(kernel_name, (x,), axis=axis)


def argmax(x, axis=0):
    """int32 index of the first largest value along one axis (TF.js's default axis 0)."""
    return _arg_reduce("ArgMax", "argmax", x, axis)


def argmin(x, axis=0):
    """int32 index of the first smallest value along one axis."""
    return _arg_reduce("ArgMin", "argmin", x, axis)


def cumsum(x, axis=0, exclusive=False, reverse=False):
    """Running sum along `axis`; `exclusive` leaves each element out of its own sum, `reverse`
    sums from the end (tf.cumsum)."""
    x = _numeric("cumsum", convert_to_tensor(x))
    axis = normalize_axis("cumsum", axis, x.ndim)
    return run_kernel("Cumsum", (x,), axis=axis, exclusive=bool(exclusive),
                      reverse=bool(reverse))


# ---------------------------------------------------------------------------- composites

def _require_float(op_name, x):
    _require_dtype(op_name, x, dtypes.FLOATS, "a floating-point")


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, computed as m + log(sum(exp(x - m))) with m the max."""
    from engine.ops.elementwise import add, exp, is_finite, log, sub, where
    from engine.ops.shape import reshape

    x = convert_to_tensor(x)
    _require_float("logsumexp", x)
    axes = normalize_axes("logsumexp", axis, x.ndim)
    shift = max(x, axes, keepdims=True)
    shift = where(is_finite(shift), shift, 0.0)  # all -inf rows give -inf, not nan
    out = add(log(sum(exp(sub(x, shift)), axes, keepdims=True)), shift)
    return out if keepdims else reshape(out, tuple(d for i, d in enumerate(x.shape)
                                                   if i not in axes))


def moments(x, axis=None, keepdims=False):
    """(mean, variance) over `axis`; the variance is the population one (divides by n)."""
    from engine.ops.elementwise import squared_difference
    from engine.ops.shape import reshape

    x = convert_to_tensor(x)
    _require_float("moments", x)
    axes = normalize_axes("moments", axis, x.ndim)
    centre = mean(x, axes, keepdims=True)
    spread = mean(squared_difference(x, centre), axes, keepdims=keepdims)
    return (centre if keepdims else reshape(centre, spread.shape)), spread


def variance(x, axis=None, keepdims=False):
    """Population variance over `axis` (divides by n, as tf.moments and numpy.var)."""
    return moments(x, axis, keepdims)[1]


# ---------------------------------------------------------------------------- gradients

def _spread_back(dy, node):
    """dy of a reduction, reshaped to keepdims form so it broadcasts against the input."""
    from engine.ops.shape import reshape

    return reshape(dy, kept_shape(node.inputs[0].shape, node.attrs["axis"]))


@register_gradient("Sum")
def _sum_grad(dy, node):
    from engine.ops.shape import broadcast_to

    return broadcast_to(_spread_back(dy, node), node.inputs[0].shape)


@register_gradient("Mean")
def _mean_grad(dy, node):
    from engine.ops.elementwise import div
    from engine.ops.shape import broadcast_to

    x = node.inputs[0]
    count = math.prod(x.shape[a] for a in node.attrs["axis"])
    return broadcast_to(div(_spread_back(dy, node), float(count)), x.shape)


@register_gradient("Prod")
def _prod_grad(dy, node):
    """d prod / d x_i is the product of the others, computed exactly when zeros occur: with no
    zero it is prod / x_i; with one zero only that element gets a gradient (the product of the
    rest); with two or more every gradient is 0."""
    from engine.ops.elementwise import cast, div, equal, mul, where

    x = node.inputs[0]
    axes = node.attrs["axis"]
    is_zero = equal(x, 0.0)
    nonzero = where(is_zero, 1.0, x)
    product_of_nonzero = prod(nonzero, axes, keepdims=True)
    zeros = sum(cast(is_zero, dtypes.int32), axes, keepdims=True)
    at_zero = where(equal(zeros, 1), product_of_nonzero, 0.0)
    elsewhere = where(equal(zeros, 0), div(product_of_nonzero, nonzero), 0.0)
    return mul(_spread_back(dy, node), where(is_zero, at_zero, elsewhere))


def _extremum_grad(dy, node):
    """TF's rule for max/min: dy goes to the positions equal to the result, split evenly
    between ties."""
    from engine.ops.elementwise import cast, div, equal, mul

    x = node.inputs[0]
    axes = node.attrs["axis"]
    y = node.outputs[0] if node.attrs["keepdims"] else _spread_back(node.outputs[0], node)
    chosen = cast(equal(x, y), x.dtype)
    return mul(div(chosen, sum(chosen, axes, keepdims=True)), _spread_back(dy, node))


register_gradient("Max")(_extremum_grad)
register_gradient("Min")(_extremum_grad)


@register_gradient("Cumsum")
def _cumsum_grad(dy, node):
    attrs = node.attrs
    return cumsum(dy, attrs["axis"], exclusive=attrs["exclusive"], reverse=not attrs["reverse"])
