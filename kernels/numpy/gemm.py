"""Skinny GEMMs as stacks of small ones, which OpenBLAS runs without packing.

OpenBLAS copies ("packs") both operands of a GEMM into its own layout first. For the tall,
thin products of convolutions (8192 im2col rows of 144 values times a 144x32 filter) that copy
is a large share of the work: the big operand is read twice and every value serves only N
multiply-adds. OpenBLAS's small-matrix kernels (SkylakeX and newer x86 builds) skip packing for
products of at most SMALL_GEMM_MACS multiply-adds, so NumPy's stacked matmul over row blocks of
that size, one BLAS call per block, runs faster. One core, per 8192 rows: 8192x144 @ 144x32
647 -> 520 us, 8192x288 @ 288x16 860 -> 650 us, the filter gradient's 144x8192 @ 8192x32
724 -> 594 us with its block sums. With OPENBLAS_CORETYPE=Haswell (no such kernels) the blocks
cost 0-10% more than one call.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided

SMALL_GEMM_MACS = 1_000_000  # OpenBLAS's SkylakeX limit on M*N*K for its small-matrix kernels
# Fewer rows a block than this and the blocks lose to one call; for wide products they lose by
# far (4096x1152 @ 1152x128, one core: 11.6 ms in 6-row blocks, 7.0 ms in one call; the
# transposed product 102 ms against 8.8).
MIN_BLOCK_ROWS = 128


def block_rows(k, n, m):
    """Rows per block for an (m, k) @ (k, n) product: m (one block) where blocks do not pay."""
    rows = SMALL_GEMM_MACS // max(1, k * n)
    return rows if MIN_BLOCK_ROWS <= rows < m else m


def _block_rows(a, b):
    return block_rows(a.shape[1], b.shape[1], a.shape[0])


def _row_blocks(a, rows):
    """The first len(a) // rows * rows rows of a 2-D array as (blocks, rows, K): no copy."""
    (step, inner), blocks = a.strides, a.shape[0] // rows
    return as_strided(a, (blocks, rows, a.shape[1]), (rows * step, step, inner), writeable=False)


def matmul(a, b, out=None):
    """a @ b (a 2-D, tall) into `out` (C-contiguous, or a new array), in row blocks."""
    rows = _block_rows(a, b)
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    if rows >= a.shape[0]:
        return np.matmul(a, b, out=out)
    whole = a.shape[0] // rows * rows
    np.matmul(_row_blocks(a, rows), b, out=out[:whole].reshape(-1, rows, b.shape[1]))
    if whole < a.shape[0]:
        np.matmul(a[whole:], b, out=out[whole:])
    return out


def transposed_matmul(a, b):
    """a.T @ b for two tall matrices of as many rows: the sum over row blocks of their
    products (the filter gradient's im2col(x).T @ dy)."""
    rows = _block_rows(a, b)
    if rows >= a.shape[0]:
        return a.T @ b
    whole = a.shape[0] // rows * rows
    partials = np.matmul(_row_blocks(a, rows).transpose(0, 2, 1), _row_blocks(b, rows))
    total = partials.sum(axis=0, dtype=partials.dtype)
    if whole < a.shape[0]:
        total += a[whole:].T @ b[whole:]
    return total
