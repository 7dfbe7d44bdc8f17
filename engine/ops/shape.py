"""Shape ops: reshape, transpose, expand/squeeze, concat/stack/split, slicing, pad, tile,
gather, reverse and segment sums, each with its gradient right below it."""
import functools
import math
import operator

import numpy as np

from engine import dtypes
from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.registry import register_gradient
from engine.tensor import Tensor, wrap

__all__ = ["reshape", "broadcast_to", "transpose", "expand_dims", "squeeze", "concat", "stack",
           "split", "slice", "pad", "tile", "gather", "reverse", "unsorted_segment_sum"]


# ---------------------------------------------------------------------------- validation

def _int(op_name, value, what):
    """`value` as a Python int (bools and floats refused)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"Error in {op_name}: {what} must be an int, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"Error in {op_name}: {what} must be an int, got {value!r}") from None


def _ints(op_name, values, what):
    values = (values,) if not isinstance(values, (list, tuple, np.ndarray)) else values
    return tuple(_int(op_name, v, what) for v in values)


def normalize_axis(op_name, axis, rank, shape):
    """One axis in [-rank, rank) as a non-negative int."""
    axis = _int(op_name, axis, "axis")
    if not -rank <= axis < rank:
        raise ValueError(f"Error in {op_name}: axis {axis} is out of range for a tensor of "
                         f"shape {shape}; expected an axis in [{-rank}, {rank})")
    return axis % rank


def _normalize_axes(op_name, axis, rank, shape):
    """None (every axis), an int or a sequence as a sorted tuple of distinct axes."""
    if axis is None:
        return tuple(range(rank))
    axes = tuple(normalize_axis(op_name, a, rank, shape) for a in _ints(op_name, axis, "axis"))
    if len(set(axes)) != len(axes):
        raise ValueError(f"Error in {op_name}: axis {axis} repeats an axis")
    return tuple(sorted(axes))


def _resolve_shape(op_name, shape, size, given_shape):
    if type(shape) is tuple and math.prod(shape) == size and all(
            type(d) is int and d >= 0 for d in shape):
        return shape  # already complete (the common case inside ops): nothing to resolve
    shape = _ints(op_name, shape, "shape")
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


def _tensors(op_name, tensors):
    """A non-empty list of tensors on one backend (non-tensors join the first tensor's)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"Error in {op_name}: expected a list of tensors, got "
                        f"{type(tensors).__name__}")
    if not tensors:
        raise ValueError(f"Error in {op_name}: expected at least one tensor, got an empty list")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    tensors = [convert_to_tensor(t, like=like) for t in tensors]
    for t in tensors[1:]:
        if t.dtype != tensors[0].dtype:
            raise TypeError(f"Error in {op_name}: tensors have different dtypes "
                            f"{tensors[0].dtype} and {t.dtype}; cast them to one dtype")
    return tensors


# ---------------------------------------------------------------------------- reshape family

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


def expand_dims(x, axis):
    """Insert an axis of size 1 at `axis` (in [-rank - 1, rank])."""
    x = convert_to_tensor(x)
    axis = normalize_axis("expand_dims", axis, x.ndim + 1, x.shape)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x, axis=None):
    """Remove axes of size 1: those in `axis`, or all of them when None."""
    x = convert_to_tensor(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(x.shape) if d == 1)
    else:
        axes = _normalize_axes("squeeze", axis, x.ndim, x.shape)
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"Error in squeeze: cannot squeeze axis {a} of a tensor with "
                                 f"shape {x.shape}: its size is {x.shape[a]}, expected 1")
    return reshape(x, tuple(d for i, d in enumerate(x.shape) if i not in axes))


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


# ---------------------------------------------------------------------------- transpose

def transpose(x, perm=None):
    """Permute the axes: output axis i is input axis perm[i] (default: reverse them)."""
    x = convert_to_tensor(x)
    if perm is None:
        perm = tuple(reversed(range(x.ndim)))
    else:
        perm = _ints("transpose", perm, "perm")
        if sorted(perm) != list(range(x.ndim)):
            raise ValueError(f"Error in transpose: perm {perm} is not a permutation of the axes "
                             f"of a tensor with shape {x.shape}; expected an ordering of "
                             f"{tuple(range(x.ndim))}")
    if perm == tuple(range(x.ndim)):
        return x
    return run_kernel("Transpose", (x,), perm=perm)


@register_gradient("Transpose")
def _transpose_grad(dy, node):
    return transpose(dy, tuple(int(i) for i in np.argsort(node.attrs["perm"])))


# ---------------------------------------------------------------------------- concat family

def concat(tensors, axis=0):
    """Join tensors along an existing axis; all other dimensions must match."""
    tensors = _tensors("concat", tensors)
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("Error in concat: cannot concatenate scalars (shape ()); use stack")
    axis = normalize_axis("concat", axis, first.ndim, first.shape)
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape))
                                       if i != axis):
            raise ValueError(f"Error in concat: tensors with shapes {first.shape} and {t.shape} "
                             f"must match in every dimension except axis {axis}")
    if len(tensors) == 1:
        return first
    return run_kernel("Concat", tensors, axis=axis)


@register_gradient("Concat")
def _concat_grad(dy, node):
    axis = node.attrs["axis"]
    return tuple(split(dy, [t.shape[axis] for t in node.inputs], axis))


def stack(tensors, axis=0):
    """Join tensors of one shape along a new axis."""
    tensors = _tensors("stack", tensors)
    for t in tensors[1:]:
        if t.shape != tensors[0].shape:
            raise ValueError(f"Error in stack: tensors with shapes {tensors[0].shape} and "
                             f"{t.shape} must have the same shape")
    axis = normalize_axis("stack", axis, tensors[0].ndim + 1, tensors[0].shape)
    return concat([expand_dims(t, axis) for t in tensors], axis)


def split(x, num_or_size_splits, axis=0):
    """A list of pieces along `axis`: `n` equal parts, or parts of the listed sizes (one may
    be -1, meaning what is left), as tf.split."""
    x = convert_to_tensor(x)
    if x.ndim == 0:
        raise ValueError("Error in split: cannot split a scalar (shape ())")
    axis = normalize_axis("split", axis, x.ndim, x.shape)
    dim = x.shape[axis]
    if isinstance(num_or_size_splits, (list, tuple, np.ndarray)):
        sizes = list(_ints("split", num_or_size_splits, "size"))
        unknown = [i for i, s in enumerate(sizes) if s == -1]
        known = sum(s for s in sizes if s != -1)
        if len(unknown) > 1 or any(s < -1 for s in sizes) or known > dim or (
                not unknown and known != dim):
            raise ValueError(f"Error in split: sizes {tuple(sizes)} do not split axis {axis} of "
                             f"a tensor with shape {x.shape}; expected non-negative sizes "
                             f"summing to {dim}, at most one of them -1")
        if unknown:
            sizes[unknown[0]] = dim - known
    else:
        parts = _int("split", num_or_size_splits, "num_or_size_splits")
        if parts <= 0 or dim % parts:
            raise ValueError(f"Error in split: cannot split axis {axis} of a tensor with shape "
                             f"{x.shape} into {parts} equal parts")
        sizes = [dim // parts] * parts
    return list(run_kernel("Split", (x,), axis=axis, sizes=tuple(sizes)))


@register_gradient("Split")
def _split_grad(dy, node):
    """The output gradients side by side (zeros for outputs no gradient reached)."""
    from engine.ops.creation import zeros_like

    dys = dy if type(dy) is tuple else (dy,)
    parts = [g if g is not None else zeros_like(o) for g, o in zip(dys, node.outputs)]
    return concat(parts, axis=node.attrs["axis"])


# ---------------------------------------------------------------------------- slice and pad

def slice(x, begin, size):  # noqa: A001  (public name matches TF.js)
    """The block starting at `begin` with `size` per dimension (-1: to the end). Shorter
    `begin`/`size` leave the remaining axes whole."""
    x = convert_to_tensor(x)
    begin, size = _ints("slice", begin, "begin"), _ints("slice", size, "size")
    if len(begin) > x.ndim or len(size) > x.ndim:
        raise ValueError(f"Error in slice: begin {begin} and size {size} have more entries than "
                         f"the rank of a tensor with shape {x.shape}")
    begin = begin + (0,) * (x.ndim - len(begin))
    size = size + (-1,) * (x.ndim - len(size))
    size = tuple(dim - b if s == -1 else s for b, s, dim in zip(begin, size, x.shape))
    for axis, (b, s, dim) in enumerate(zip(begin, size, x.shape)):
        if not 0 <= b <= b + s <= dim:
            raise ValueError(f"Error in slice: begin {begin} and size {size} do not fit a tensor "
                             f"with shape {x.shape}; axis {axis} needs "
                             f"0 <= begin <= begin + size <= {dim}")
    if size == x.shape:
        return x
    return run_kernel("Slice", (x,), begin=begin, size=size)


@register_gradient("Slice")
def _slice_grad(dy, node):
    begin, size = node.attrs["begin"], node.attrs["size"]
    shape = node.inputs[0].shape
    return pad(dy, [(b, dim - b - s) for b, s, dim in zip(begin, size, shape)])


_PAD_MODES = ("constant", "reflect", "symmetric")


def pad(x, paddings, mode="constant", constant_values=0):
    """Pad each axis by (before, after): with a constant, or mirrored as np.pad's 'reflect'
    (edge not repeated, padding < size) and 'symmetric' (edge repeated, padding <= size)."""
    x = convert_to_tensor(x)
    try:
        paddings = tuple(_ints("pad", pair, "padding") for pair in paddings)
    except TypeError:
        raise TypeError(f"Error in pad: paddings must be pairs of ints, got {paddings!r}") from None
    if len(paddings) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in paddings):
        raise ValueError(f"Error in pad: paddings {paddings} do not fit a tensor with shape "
                         f"{x.shape}; expected {x.ndim} pairs (before, after) of non-negative ints")
    mode = str(mode).lower()
    if mode not in _PAD_MODES:
        raise ValueError(f"Error in pad: unknown mode '{mode}'; expected one of {_PAD_MODES}")
    if not any(b or a for b, a in paddings):
        return x
    if mode == "constant":
        return run_kernel("Pad", (x,), paddings=paddings,
                          constant_value=_scalar_of_dtype(constant_values, x.dtype))
    for axis, ((before, after), dim) in enumerate(zip(paddings, x.shape)):
        limit = dim - 1 if mode == "reflect" else dim
        if max(before, after) > limit:
            relation = "less than" if mode == "reflect" else "at most"
            raise ValueError(f"Error in pad: {mode} padding {(before, after)} of axis {axis} must "
                             f"be {relation} its size {dim} (tensor shape {x.shape})")
    for axis, ((before, after), dim) in enumerate(zip(paddings, x.shape)):
        if before or after:
            x = gather(x, _mirror_indices(x._backend, mode, dim, before, after), axis)
    return x


def _scalar_of_dtype(value, dtype):
    if dtypes.is_floating(dtype):
        return float(value)
    return bool(value) if dtype == dtypes.bool_ else int(value)


@functools.lru_cache(maxsize=256)
def _mirror_indices(backend, mode, dim, before, after):
    """Cached int32 tensor of source positions for a mirrored padding of one axis."""
    positions = np.arange(-before, dim + after)
    if mode == "reflect":  # period 2 (dim - 1): ... 2 1 | 0 1 2 ... dim-1 | dim-2 ...
        period = max(2 * (dim - 1), 1)
        folded = positions % period
        source = np.where(folded < dim, folded, period - folded)
    else:  # symmetric, period 2 dim: ... 1 0 | 0 1 ... dim-1 | dim-1 dim-2 ...
        folded = positions % (2 * dim)
        source = np.where(folded < dim, folded, 2 * dim - 1 - folded)
    return wrap(backend.from_host(source.astype(np.int32)), backend)


@register_gradient("Pad")
def _pad_grad(dy, node):
    paddings = node.attrs["paddings"]
    return slice(dy, tuple(b for b, _ in paddings), node.inputs[0].shape)


# ---------------------------------------------------------------------------- tile, reverse

def tile(x, reps):
    """Repeat x reps[i] times along axis i (one rep per axis)."""
    x = convert_to_tensor(x)
    reps = _ints("tile", reps, "reps")
    if len(reps) != x.ndim or any(r < 0 for r in reps):
        raise ValueError(f"Error in tile: reps {reps} do not fit a tensor with shape {x.shape}; "
                         f"expected {x.ndim} non-negative ints")
    if all(r == 1 for r in reps):
        return x
    return run_kernel("Tile", (x,), reps=reps)


@register_gradient("Tile")
def _tile_grad(dy, node):
    from engine.ops.reduce import sum as reduce_sum

    shape = node.inputs[0].shape
    interleaved = tuple(d for pair in zip(node.attrs["reps"], shape) for d in pair)
    return reduce_sum(reshape(dy, interleaved), tuple(range(0, 2 * len(shape), 2)))


def reverse(x, axis=None):
    """Reverse the order of elements along each axis in `axis` (all axes when None)."""
    x = convert_to_tensor(x)
    axes = _normalize_axes("reverse", axis, x.ndim, x.shape)
    if not axes:
        return x
    return run_kernel("Reverse", (x,), axis=axes)


@register_gradient("Reverse")
def _reverse_grad(dy, node):
    return reverse(dy, node.attrs["axis"])


# ---------------------------------------------------------------------------- gather, segments

def index_tensor(op_name, indices, dim, shape, axis, like, wrap_negative=True):
    """Integer indices as an int32 tensor beside `like`.

    Host indices (ints, lists, NumPy arrays) are checked against `dim` (axis `axis` of a tensor
    with `shape`); negatives wrap as in NumPy when `wrap_negative`. Tensor indices stay on the
    device, unchecked: they must lie in [0, dim).
    """
    if isinstance(indices, Tensor):
        if indices.dtype not in dtypes.INTS:
            raise TypeError(f"Error in {op_name}: indices must be int32 or int64, got "
                            f"{indices.dtype}")
        from engine.ops.elementwise import cast

        return cast(indices, dtypes.int32)
    array = np.asarray(indices)
    if array.dtype.kind not in "iu" and not (array.size == 0 and array.dtype.kind == "f"):
        raise TypeError(f"Error in {op_name}: indices must be integers, got {array.dtype} "
                        f"({indices!r})")
    array = array.astype(np.int64)
    low = -dim if wrap_negative else 0
    if array.size and (array.min() < low or array.max() >= dim):
        bad = array[(array < low) | (array >= dim)].flat[0]
        raise IndexError(f"Error in {op_name}: index {bad} is out of range for axis {axis} of "
                         f"size {dim} (tensor shape {shape})")
    return convert_to_tensor((array % max(dim, 1)).astype(np.int32), like=like)


def gather(x, indices, axis=0):
    """Take slices of x along `axis` at `indices` (np.take). Host indices are range-checked
    and may be negative; tensor indices must already be in [0, size)."""
    x = convert_to_tensor(x)
    if x.ndim == 0:
        raise ValueError("Error in gather: cannot gather from a scalar (shape ())")
    axis = normalize_axis("gather", axis, x.ndim, x.shape)
    indices = index_tensor("gather", indices, x.shape[axis], x.shape, axis, x)
    return run_kernel("GatherV2", (x, indices), axis=axis)


@register_gradient("GatherV2")
def _gather_grad(dy, node):
    x, indices = node.inputs
    axis, count = node.attrs["axis"], indices.ndim
    # dy is x.shape[:axis] + indices.shape + x.shape[axis+1:]: bring the index axes first,
    # sum rows sharing an index, then move the summed axis back to `axis`.
    to_front = (tuple(range(axis, axis + count)) + tuple(range(axis))
                + tuple(range(axis + count, dy.ndim)))
    summed = unsorted_segment_sum(transpose(dy, to_front), indices, x.shape[axis])
    back = tuple(range(1, axis + 1)) + (0,) + tuple(range(axis + 1, x.ndim))
    return transpose(summed, back), None


def unsorted_segment_sum(data, segment_ids, num_segments):
    """out[i] = sum of data[j...] over positions j with segment_ids[j] == i; segment_ids has
    the shape of data's leading axes. Host ids are range-checked; tensor ids must be in range."""
    data = convert_to_tensor(data)
    num_segments = _int("unsorted_segment_sum", num_segments, "num_segments")
    if num_segments < 0:
        raise ValueError(f"Error in unsorted_segment_sum: num_segments must be >= 0, got "
                         f"{num_segments}")
    ids_shape = segment_ids.shape if isinstance(segment_ids, Tensor) else np.shape(segment_ids)
    if tuple(data.shape[:len(ids_shape)]) != tuple(ids_shape):
        raise ValueError(f"Error in unsorted_segment_sum: segment_ids of shape {tuple(ids_shape)} "
                         f"must match the leading axes of data with shape {data.shape}")
    ids = index_tensor("unsorted_segment_sum", segment_ids, num_segments, (num_segments,), 0,
                       data, wrap_negative=False)
    return run_kernel("UnsortedSegmentSum", (data, ids), num_segments=num_segments)


@register_gradient("UnsortedSegmentSum")
def _unsorted_segment_sum_grad(dy, node):
    return gather(dy, node.inputs[1], 0), None
