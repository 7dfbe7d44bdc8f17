"""Reductions over an axis set: sum, mean, prod, max, min, all, any, argmax, argmin, ..."""
from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.registry import register_gradient

__all__ = ["sum"]  # extend as ops are added


def normalize_axes(op_name, axis, rank):
    """`axis` (None, int or sequence, negatives allowed) as a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(rank))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    normalized = []
    for a in axes:
        if not -rank <= a < max(rank, 1):
            raise ValueError(f"Error in {op_name}: axis {a} is out of range for a tensor of "
                             f"rank {rank}")
        normalized.append(a % rank if rank else 0)
    if len(set(normalized)) != len(normalized):
        raise ValueError(f"Error in {op_name}: axis {axis} repeats an axis")
    return tuple(sorted(normalized))


def sum(x, axis=None, keepdims=False):  # noqa: A001
    """Sum over `axis` (all axes when None)."""
    x = convert_to_tensor(x)
    return run_kernel("Sum", (x,), axis=normalize_axes("sum", axis, x.ndim),
                      keepdims=bool(keepdims))


@register_gradient("Sum")
def _sum_grad(dy, node):
    from engine.ops.shape import broadcast_to, reshape

    x = node.inputs[0]
    kept = tuple(1 if i in node.attrs["axis"] else d for i, d in enumerate(x.shape))
    return broadcast_to(reshape(dy, kept), x.shape)
