"""einsum (NumPy's equation language) as a composition of engine ops, so it runs and
differentiates on every backend without a kernel of its own.

Each operand first loses its repeated labels (a diagonal, by gather) and the labels no other
operand or the output needs (a sum); then operands contract pairwise, left to right, each pair
as one matmul of (batch, free, contracted) layouts; the last result is transposed to the output.
"""
import math
import string

import numpy as np

from engine import dtypes
from engine.ops.convert import convert_to_tensor
from engine.tensor import Tensor

__all__ = ["einsum"]

_LETTERS = frozenset(string.ascii_letters)
_ELLIPSIS = "..."


def einsum(equation, *operands):
    """The sum of products of `operands` that `equation` describes, as numpy.einsum.

    'ij,jk->ik' is a matrix product, 'bij,bjk->bik' a batched one, 'i,j->ij' an outer product,
    'ij->j' a sum, 'ii->i' a diagonal and 'ii' a trace; '...' stands for broadcast leading (or
    trailing) axes; without '->' the output is the ellipsis axes, then the labels used once, in
    alphabetical order. Unlike NumPy, a label's sizes must agree exactly (only the axes under
    '...' broadcast). Contractions run as matmul (the BatchMatMul kernel); einsum itself has no
    kernel, so it is not in the kernel coverage table.
    """
    tensors = _operands(equation, operands)
    shapes = tuple(t.shape for t in tensors)
    terms, output, sizes = parse(equation, shapes)
    tensors = _common_dtype(equation, tensors, shapes)
    prepared = []
    for index, (tensor, labels) in enumerate(zip(tensors, terms)):
        later = set(output).union(*terms[:index], *terms[index + 1:])
        prepared.append(_reduce_alone(*_drop_broadcast(*_diagonal(tensor, labels), sizes),
                                      later))
    result, labels = prepared[0]
    for index, (tensor, other) in enumerate(prepared[1:], start=1):
        needed = set(output).union(*terms[index + 1:])
        result, labels = _contract(result, labels, tensor, other, needed)
    return _to_output(result, labels, output)


# ---------------------------------------------------------------------------- validation

def _operands(equation, operands):
    if not isinstance(equation, str):
        raise TypeError(f"Error in einsum: the equation must be a string, got "
                        f"{type(equation).__name__}")
    if not operands:
        raise ValueError(f"Error in einsum: equation '{equation}' needs at least one operand")
    like = next((t for t in operands if isinstance(t, Tensor)), None)
    return [convert_to_tensor(t, like=like) for t in operands]


def _fail(equation, shapes, detail):
    listed = ", ".join(str(tuple(s)) for s in shapes)
    return ValueError(f"Error in einsum: {detail} (equation '{equation}', operand shapes "
                      f"{listed})")


def parse(equation, shapes):
    """(labels of each operand, output labels, size of each label) for `equation` applied to
    operands of `shapes`; the axes under '...' get the labels 0, 1, ... (ints, right-aligned
    as in broadcasting). A ValueError names the equation and the shapes when they disagree."""
    text = equation.replace(" ", "")
    if text.count("->") > 1:
        raise _fail(equation, shapes, "'->' appears more than once")
    inputs, arrow, output_text = text.partition("->")
    input_texts = inputs.split(",")
    if len(input_texts) != len(shapes):
        raise _fail(equation, shapes, f"the equation has {len(input_texts)} operand terms but "
                                      f"{len(shapes)} operands were given")
    letters = [_term_letters(equation, shapes, t) for t in input_texts]
    ellipsis_ranks = []
    for index, (term, shape) in enumerate(zip(input_texts, shapes)):
        named = sum(1 for part in letters[index] if part != _ELLIPSIS)
        rank = len(shape) - named
        if rank < 0 or (rank and _ELLIPSIS not in letters[index]):
            raise _fail(equation, shapes, f"operand {index} has rank {len(shape)} but its term "
                                          f"'{term}' names {named} axes")
        ellipsis_ranks.append(rank)
    ellipsis_rank = max(ellipsis_ranks)
    terms = [_expand(parts, rank, ellipsis_rank)
             for parts, rank in zip(letters, ellipsis_ranks)]
    sizes = _label_sizes(equation, shapes, terms)
    if arrow:
        output = _explicit_output(equation, shapes, output_text, terms, ellipsis_rank)
    else:
        counts = [label for term in terms for label in term if isinstance(label, str)]
        output = tuple(range(ellipsis_rank)) + tuple(
            sorted(label for label in set(counts) if counts.count(label) == 1))
    return terms, output, sizes


def _term_letters(equation, shapes, term):
    """A term's parts: its letters and, at most once, '...'."""
    before, dots, after = term.partition(_ELLIPSIS)
    if _ELLIPSIS in after:
        raise _fail(equation, shapes, f"term '{term}' has more than one '...'")
    for char in before + after:
        if char not in _LETTERS:
            raise _fail(equation, shapes, f"term '{term}' has the character {char!r}; labels "
                                          f"are letters a-z and A-Z, with at most one '...'")
    return tuple(before) + ((_ELLIPSIS,) if dots else ()) + tuple(after)


def _expand(parts, rank, ellipsis_rank):
    """A term's labels with '...' replaced by the last `rank` of the ellipsis labels."""
    labels = []
    for part in parts:
        labels.extend(range(ellipsis_rank - rank, ellipsis_rank) if part == _ELLIPSIS
                      else (part,))
    return tuple(labels)


def _label_sizes(equation, shapes, terms):
    """Each label's size: letters must agree exactly; ellipsis axes broadcast (1 against n)."""
    sizes, seen = {}, {}
    for index, (term, shape) in enumerate(zip(terms, shapes)):
        for label, size in zip(term, shape):
            known = sizes.get(label)
            if known is None or known == size:
                sizes[label], seen[label] = size, seen.get(label, index)
            elif isinstance(label, int) and 1 in (known, size):
                sizes[label] = max(known, size)
            elif isinstance(label, int):
                raise _fail(equation, shapes, f"the axes under '...' of sizes {known} and "
                                              f"{size} cannot be broadcast together")
            else:
                raise _fail(equation, shapes, f"label '{label}' has size {known} in operand "
                                              f"{seen[label]} but {size} in operand {index}")
    return sizes


def _explicit_output(equation, shapes, text, terms, ellipsis_rank):
    parts = _term_letters(equation, shapes, text)
    used = set().union(*terms)
    for part in parts:
        if part != _ELLIPSIS and part not in used:
            raise _fail(equation, shapes, f"output label '{part}' appears in no operand")
        if part != _ELLIPSIS and parts.count(part) > 1:
            raise _fail(equation, shapes, f"output label '{part}' appears more than once")
    if ellipsis_rank and _ELLIPSIS not in parts:
        raise _fail(equation, shapes, "the operands have axes under '...' but the output "
                                      "has no '...'")
    return _expand(parts, ellipsis_rank, ellipsis_rank)


def _common_dtype(equation, tensors, shapes):
    from engine.ops.elementwise import cast

    if any(t.dtype == dtypes.bool_ for t in tensors):
        raise TypeError(f"Error in einsum: expected numeric tensors, got "
                        f"{', '.join(t.dtype for t in tensors)} (equation '{equation}', "
                        f"operand shapes {', '.join(str(s) for s in shapes)})")
    common = tensors[0].dtype
    for t in tensors[1:]:
        common = dtypes.promote(common, t.dtype)
    return [t if t.dtype == common else cast(t, common) for t in tensors]


# ---------------------------------------------------------------------------- per operand

def _diagonal(tensor, labels):
    """Repeated labels of one operand ('ii') reduced to one axis: the repeated axes move last
    and flatten, and a gather picks the elements whose indices all agree."""
    from engine.ops.shape import gather, reshape, transpose

    for label in dict.fromkeys(labels):
        axes = [i for i, l in enumerate(labels) if l == label]
        if len(axes) == 1:
            continue
        rest = [i for i in range(len(labels)) if i not in axes]
        size = tensor.shape[axes[0]]
        flat = transpose(tensor, tuple(rest + axes))
        flat = reshape(flat, tuple(tensor.shape[i] for i in rest) + (size ** len(axes),))
        stride = sum(size ** k for k in range(len(axes)))  # 1 + n + n^2 ... per step
        picks = np.arange(size, dtype=np.int32) * stride
        tensor = gather(flat, picks, axis=len(rest))
        labels = tuple(labels[i] for i in rest) + (label,)
    return tensor, labels


def _drop_broadcast(tensor, labels, sizes):
    """Axes under '...' of size 1 that broadcast against a larger size are removed: a
    broadcast axis is the same as an absent one."""
    from engine.ops.shape import reshape

    keep = [i for i, label in enumerate(labels)
            if not (tensor.shape[i] == 1 and sizes[label] != 1)]
    if len(keep) == len(labels):
        return tensor, labels
    return (reshape(tensor, tuple(tensor.shape[i] for i in keep)),
            tuple(labels[i] for i in keep))


def _reduce_alone(tensor, labels, needed):
    """Labels that appear nowhere else and not in the output are summed out first."""
    from engine.ops.reduce import sum as reduce_sum

    axes = tuple(i for i, label in enumerate(labels) if label not in needed)
    if not axes:
        return tensor, labels
    return reduce_sum(tensor, axes), tuple(l for l in labels if l in needed)


# ---------------------------------------------------------------------------- contraction

def _contract(a, a_labels, b, b_labels, needed):
    """a and b (each label once) to one tensor over the labels in `needed`, by one matmul of
    (batch, rows, inner) @ (batch, inner, columns), or a broadcast product where no label is
    summed (outer and elementwise products)."""
    from engine.ops.elementwise import mul
    from engine.ops.linalg import matmul
    from engine.ops.shape import reshape

    a, a_labels = _reduce_alone(a, a_labels, needed | set(b_labels))
    b, b_labels = _reduce_alone(b, b_labels, needed | set(a_labels))
    shared = [l for l in a_labels if l in b_labels]
    batch = [l for l in shared if l in needed]
    inner = [l for l in shared if l not in needed]
    rows = [l for l in a_labels if l not in shared]
    columns = [l for l in b_labels if l not in shared]
    a_size, b_size = dict(zip(a_labels, a.shape)), dict(zip(b_labels, b.shape))
    lead = (math.prod(a_size[l] for l in batch),) if batch else ()
    a_mat, transpose_a = _as_matrix(a, a_labels, batch, rows, inner, a_size, lead)
    b_mat, transpose_b = _as_matrix(b, b_labels, batch, inner, columns, b_size, lead)
    if inner:
        product = matmul(a_mat, b_mat, transpose_a=transpose_a, transpose_b=transpose_b)
    else:  # nothing to sum: (lead, rows, 1) * (lead, 1, columns) is the whole product
        product = mul(a_mat, b_mat)
    shape = (tuple(a_size[l] for l in batch + rows) + tuple(b_size[l] for l in columns))
    return reshape(product, shape), tuple(batch + rows + columns)


def _as_matrix(x, labels, batch, first, second, size, lead):
    """x as (lead..., first, second) flattened, or its transposed layout (lead..., second,
    first) with the transpose flag when x already lies that way (no copy either way)."""
    from engine.ops.shape import reshape, transpose

    transposed = tuple(batch + second + first) == labels and tuple(batch + first + second) \
        != labels
    order = batch + (second + first if transposed else first + second)
    x = transpose(x, tuple(labels.index(l) for l in order))
    rows = math.prod(size[l] for l in (second if transposed else first))
    cols = math.prod(size[l] for l in (first if transposed else second))
    return reshape(x, lead + (rows, cols)), transposed


def _to_output(result, labels, output):
    """The result's axes in the output's order (after summing what the output drops)."""
    from engine.ops.shape import transpose

    result, labels = _reduce_alone(result, labels, set(output))
    return transpose(result, tuple(labels.index(l) for l in output))
