"""Shape ops: reshape, transpose, expand/squeeze, concat/stack/split, slicing, pad, tile, ..."""
import math

from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.registry import register_gradient

__all__ = ["reshape", "broadcast_to"]  # extend as ops are added


def _resolve_shape(op_name, shape, size, given_shape):
    shape = (shape,) if isinstance(shape, int) else tuple(int(d) for d in shape)
    unknown = [i for i, d in enumerate(shape) if d == -1]
    if len(unknown) > 1:
        raise ValueError(f"Error in {op_name}: at most one dimension can be -1, got {shape}")
    known = math.prod(d for d in shape if d != -1)
    if unknown:
        if known == 0 or size % known:
            raise ValueError(f"Error in {op_name}: cannot reshape a tensor of shape "
                             f"{given_shape} ({size} elements) into {shape}")
        shape = shape[:unknown[0]] + (size // known,) + shape[unknown[0] + 1:]
    if math.prod(shape) != size or any(d < 0 for d in shape):
        raise ValueError(f"Error in {op_name}: cannot reshape a tensor of shape {given_shape} "
                         f"({size} elements) into {shape}")
    return shape


def reshape(x, shape):
    """Same data, new shape; one dimension may be -1."""
    x = convert_to_tensor(x)
    shape = _resolve_shape("reshape", shape, x.size, x.shape)
    if shape == x.shape:
        return x
    return run_kernel("Reshape", (x,), shape=shape)


@register_gradient("Reshape")
def _reshape_grad(dy, node):
    return reshape(dy, node.inputs[0].shape)


def broadcast_to(x, shape):
    """Broadcast `x` to `shape` (NumPy rules)."""
    from engine.ops.elementwise import broadcast_shapes

    x = convert_to_tensor(x)
    shape = tuple(int(d) for d in shape)
    if broadcast_shapes("broadcast_to", x.shape, shape) != shape:
        raise ValueError(f"Error in broadcast_to: cannot broadcast shape {x.shape} to {shape}")
    if x.shape == shape:
        return x
    if x.ndim < len(shape):
        x = reshape(x, (1,) * (len(shape) - x.ndim) + x.shape)
    return run_kernel("BroadcastTo", (x,), shape=shape)


@register_gradient("BroadcastTo")
def _broadcast_to_grad(dy, node):
    from engine.ops.elementwise import reduce_to_shape

    return reduce_to_shape(dy, node.inputs[0].shape)
