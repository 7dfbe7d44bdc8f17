"""Tensor indexing, x[key]: NumPy's basic indexing plus one integer-array index.

A key becomes at most four kernels: one Slice (all steps 1) or StridedSlice over every input
axis, one Reshape that drops integer-indexed axes and inserts None axes, one GatherV2 for an
integer array, and a Transpose when NumPy would move the gathered axes to the front.
"""
import builtins
import operator

import numpy as np

from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.ops.shape import gather, index_tensor, reshape, slice as slice_block, transpose
from engine.registry import register_gradient
from engine.tensor import Tensor

__all__ = ["getitem"]

_SLICE, _INT, _NEW_AXIS, _ARRAY = "slice", "int", "new axis", "array"


def getitem(x, key):
    """x[key] with ints (negative ok), slices (any step), None, Ellipsis and at most one
    integer array, list or tensor, following NumPy's rules."""
    x = convert_to_tensor(x)
    items = _classify(key if isinstance(key, tuple) else (key,))
    # NumPy keeps the gathered axes in place only when the integer and array indices sit side
    # by side in the key (an Ellipsis between them, even an empty one, separates them).
    advanced = [i for i, (kind, _) in enumerate(items) if kind in (_INT, _ARRAY)]
    in_place = not advanced or advanced[-1] - advanced[0] + 1 == len(advanced)
    begin, end, strides, out_shape = [], [], [], []
    array = None  # (position in out_shape, checked int32 indices)
    axis = 0
    for kind, item in _expand_ellipsis(x.shape, items):
        if kind == _NEW_AXIS:
            out_shape.append(1)
            continue
        dim = x.shape[axis]
        if kind == _INT:
            if not -dim <= item < dim:
                raise IndexError(f"Error in getitem: index {item} is out of range for axis "
                                 f"{axis} with size {dim} (tensor shape {x.shape})")
            item %= dim
            bounds = (item, item + 1, 1)
        elif kind == _SLICE:
            bounds = item.indices(dim)
            length = len(range(*bounds))
            if length == 0:  # slice.indices can leave begin at -1 or dim when nothing is taken
                bounds = (0, 0, 1)
            out_shape.append(length)
        else:
            bounds = (0, dim, 1)
            array = (len(out_shape), index_tensor("getitem", item, dim, x.shape, axis, x))
            out_shape.append(dim)
        begin.append(bounds[0])
        end.append(bounds[1])
        strides.append(bounds[2])
        axis += 1
    y = _slice(x, begin, end, strides)
    y = reshape(y, out_shape)
    if array is not None:
        y = _gather_array(y, *array, in_place)
    return y


def _classify(key):
    """(kind, value) per key item; ints and slice bounds as Python ints."""
    items = []
    for item in key:
        if item is None:
            items.append((_NEW_AXIS, None))
        elif item is Ellipsis:
            items.append((Ellipsis, None))
        elif isinstance(item, builtins.slice):
            if item.step is not None and operator.index(item.step) == 0:
                raise ValueError("Error in getitem: slice step cannot be zero")
            items.append((_SLICE, builtins.slice(*(None if v is None else operator.index(v)
                                                   for v in (item.start, item.stop, item.step)))))
        elif isinstance(item, (bool, np.bool_)) or _is_bool_array(item):
            raise TypeError("Error in getitem: boolean indexing is not supported (its output "
                            "shape depends on the data); use engine.where(mask, x, 0) or "
                            "gather with the integer positions instead")
        elif isinstance(item, (int, np.integer)):
            items.append((_INT, int(item)))
        elif isinstance(item, (Tensor, list, tuple, np.ndarray)):
            items.append((_ARRAY, item))
        else:
            raise TypeError(f"Error in getitem: unsupported index {item!r} of type "
                            f"{type(item).__name__}; expected an int, slice, None, Ellipsis or "
                            f"an integer array")
    if sum(kind == _ARRAY for kind, _ in items) > 1:
        raise TypeError("Error in getitem: only one integer-array index is supported per key; "
                        "index in two steps instead")
    return items


def _is_bool_array(item):
    if isinstance(item, Tensor):
        return item.dtype == "bool"
    return isinstance(item, (list, tuple, np.ndarray)) and np.asarray(item).dtype == np.bool_


def _expand_ellipsis(shape, items):
    """Replace the Ellipsis (or pad the end) with whole slices so every axis has one item."""
    ellipses = [i for i, (kind, _) in enumerate(items) if kind is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("Error in getitem: an index can only have a single ellipsis ('...')")
    consumed = sum(kind in (_INT, _SLICE, _ARRAY) for kind, _ in items)
    if consumed > len(shape):
        raise IndexError(f"Error in getitem: too many indices for a tensor with shape {shape}: "
                         f"{consumed} were indexed")
    whole = [(_SLICE, builtins.slice(None))] * (len(shape) - consumed)
    if not ellipses:
        return items + whole
    return items[:ellipses[0]] + whole + items[ellipses[0] + 1:]


def _slice(x, begin, end, strides):
    """The per-axis range(begin, end, stride) block of x, by the cheapest kernel."""
    if all(s == 1 for s in strides):
        return slice_block(x, begin, [max(e - b, 0) for b, e in zip(begin, end)])
    return run_kernel("StridedSlice", (x,), begin=tuple(begin), end=tuple(end),
                      strides=tuple(strides))


@register_gradient("StridedSlice")
def _strided_slice_grad(dy, node):
    return run_kernel("StridedSliceGrad", (dy,), shape=node.inputs[0].shape, **node.attrs)


@register_gradient("StridedSliceGrad")
def _strided_slice_grad_grad(ddx, node):
    attrs = {name: node.attrs[name] for name in ("begin", "end", "strides")}
    return run_kernel("StridedSlice", (ddx,), **attrs)


def _gather_array(y, position, indices, in_place):
    """Gather along axis `position` of y, then move the indexed axes first unless they stay
    `in_place`."""
    y = gather(y, indices, position)
    if in_place:
        return y
    count = indices.ndim
    index_axes = tuple(range(position, position + count))
    rest = tuple(i for i in range(y.ndim) if i not in index_axes)
    return transpose(y, index_axes + rest)
