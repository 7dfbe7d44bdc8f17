"""Linear algebra: matmul (NumPy's rules for rank >= 1, batch broadcasting) and its gradient.

Two matrices go straight to the BatchMatMul kernel; every other call is normalised to its
rank-3 form: batch dimensions are flattened (and broadcast where needed), 1-D operands are
promoted to matrices, and the result is reshaped back. A 2-D right operand against a batched left one (the Dense layer case) is one
2-D GEMM over (batch * M, K) rows.
"""
import math

from engine import dtypes
from engine.dispatch import run_kernel
from engine.ops.convert import convert_to_tensor
from engine.registry import register_gradient

__all__ = ["matmul"]


def matmul(a, b, transpose_a=False, transpose_b=False):
    """Matrix product of the last two dimensions, broadcasting the leading (batch) ones.

    A 1-D operand is a vector: it is the contracted side whatever the transpose flags say,
    and its dimension is dropped from the result (numpy.matmul's rule).
    """
    from engine.ops.elementwise import broadcast_shapes, cast
    from engine.ops.shape import broadcast_to, reshape

    a, b = convert_to_tensor(a), convert_to_tensor(b)
    check_operands("matmul", a, b)
    if a.dtype != b.dtype:
        common = dtypes.promote(a.dtype, b.dtype)
        a, b = cast(a, common), cast(b, common)
    a_mat = _as_matrix(a, transpose_a, vector_as_row=True)
    b_mat = _as_matrix(b, transpose_b, vector_as_row=False)
    m, inner_a, n = product_shape("matmul", a, b, a_mat, b_mat, transpose_a, transpose_b)
    try:
        batch = broadcast_shapes("matmul", a_mat[:-2], b_mat[:-2])
    except ValueError:
        raise ValueError(f"Error in matmul: batch dimensions {a_mat[:-2]} and {b_mat[:-2]} of "
                         f"tensors with shapes {a.shape} and {b.shape} cannot be broadcast "
                         "together") from None
    if a.ndim == 2 and b.ndim == 2:  # two matrices: the kernel as it is, no reshapes
        return run_kernel("BatchMatMul", (a, b), transpose_a=bool(transpose_a),
                          transpose_b=bool(transpose_b))
    out_shape = batch + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    a3, b3 = reshape(a, a_mat), reshape(b, b_mat)

    if len(b_mat) == 2 and not transpose_a:
        # (..., M, K) @ (K, N) is one GEMM of (batch * M, K) rows: no batch loop, no copies.
        a3 = reshape(a3, (1, math.prod(batch) * m, inner_a))
        b3 = reshape(b3, (1,) + b_mat)
    else:
        a3 = _as_batch(a3, batch, broadcast_to, reshape)
        b3 = _as_batch(b3, batch, broadcast_to, reshape)
    out = run_kernel("BatchMatMul", (a3, b3), transpose_a=bool(transpose_a),
                     transpose_b=bool(transpose_b))
    return reshape(out, out_shape)


def check_operands(op_name, a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"Error in {op_name}: inputs must have rank >= 1, got tensors with "
                         f"shapes {a.shape} and {b.shape}")
    for t in (a, b):
        if t.dtype == dtypes.bool_:
            raise TypeError(f"Error in {op_name}: expected numeric tensors, got {a.dtype} and "
                            f"{b.dtype}")


def product_shape(op_name, a, b, a_mat, b_mat, transpose_a, transpose_b):
    """(M, K, N) of op(a) @ op(b) from a's and b's matrix shapes, or a ValueError naming the op
    when their inner shapes differ."""
    m, inner_a = (a_mat[-1], a_mat[-2]) if transpose_a else (a_mat[-2], a_mat[-1])
    inner_b, n = (b_mat[-1], b_mat[-2]) if transpose_b else (b_mat[-2], b_mat[-1])
    if inner_a != inner_b:
        flags = (f" with transpose_a={transpose_a} and transpose_b={transpose_b}"
                 if transpose_a or transpose_b else "")
        raise ValueError(f"Error in {op_name}: inner shapes ({inner_a}) and ({inner_b}) of "
                         f"tensors with shapes {a.shape} and {b.shape}{flags} must match")
    return m, inner_a, n


def _as_matrix(x, transposed, vector_as_row):
    """x's shape with a 1-D vector promoted to the matrix whose contracted side it fills."""
    if x.ndim > 1:
        return x.shape
    (k,) = x.shape
    as_row = vector_as_row != transposed  # a row (1, K) contracts over its last axis
    return (1, k) if as_row else (k, 1)


def _as_batch(x, batch, broadcast_to, reshape):
    """A rank-3 (B, rows, cols) view of x for the kernel: a batch of one stays one (the
    kernel broadcasts it); any other batch is broadcast to the full one first."""
    matrix = x.shape[-2:]
    if math.prod(x.shape[:-2]) == 1 or x.shape[:-2] == batch:
        return reshape(x, (math.prod(x.shape[:-2]),) + matrix)
    return reshape(broadcast_to(x, batch + matrix), (math.prod(batch),) + matrix)


@register_gradient("BatchMatMul")
def _batch_matmul_grad(dy, node):
    """With C = op(A) op(B), op a transpose or not: dA is dC op(B)^T (op(B) dC^T when A was
    transposed), dB is op(A)^T dC (dC^T op(A) when B was); then a sum over a broadcast batch.
    The operands are already kernel inputs (two matrices or rank 3), so the products go
    straight to the kernel."""
    from engine.ops.elementwise import reduce_to_shape

    a, b = node.inputs
    transpose_a, transpose_b = node.attrs["transpose_a"], node.attrs["transpose_b"]
    grad_a = grad_b = None
    if node.needs[0]:
        grad_a = (_product(b, dy, transpose_b, True) if transpose_a
                  else _product(dy, b, False, not transpose_b))
        grad_a = reduce_to_shape(grad_a, a.shape)
    if node.needs[1]:
        grad_b = (_product(dy, a, True, transpose_a) if transpose_b
                  else _product(a, dy, not transpose_a, False))
        grad_b = reduce_to_shape(grad_b, b.shape)
    return grad_a, grad_b


def _product(a, b, transpose_a, transpose_b):
    """The BatchMatMul kernel on operands of one dtype and rank (batches equal or one of 1)."""
    return run_kernel("BatchMatMul", (a, b), transpose_a=transpose_a, transpose_b=transpose_b)
