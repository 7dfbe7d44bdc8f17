"""NumPy linear-algebra kernels: the batched GEMM goes to np.matmul (BLAS), a big stack of
products split over the cores."""
import numpy as np

from engine.kernels.numpy.parallel import over_cores
from engine.registry import register_kernel

# A stack of products with at least this many multiply-adds runs split over the cores: NumPy
# hands BLAS one product at a time, too small to share (2 cores, 64x64 @ 64x64 products: 128 of
# them 510 -> 416 us, 256 1173 -> 723; 64 break even with the thread hand-off).
MIN_SPLIT_MACS = 32_000_000


def _stacked_products(a, b):
    """The shape of a @ b when it is a stack of float products worth splitting, else None."""
    if (min(a.ndim, b.ndim) < 2 or max(a.ndim, b.ndim) < 3 or a.dtype != b.dtype
            or a.dtype.type not in (np.float32, np.float64)):
        return None
    stack = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    shape = stack + (a.shape[-2], b.shape[-1])
    macs = np.prod(shape, dtype=np.float64) * a.shape[-1]
    return shape if stack[0] > 1 and macs >= MIN_SPLIT_MACS else None


def _rows(operand, rows, shape):
    """The part of `operand` that output rows `rows` (of shape[0]) read: all of it where it is
    broadcast along that axis."""
    if operand.ndim == len(shape) and operand.shape[0] == shape[0]:
        return operand[rows]
    return operand


@register_kernel("BatchMatMul", "numpy")
def batch_matmul(a, b, transpose_a, transpose_b):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    shape = _stacked_products(a, b)
    if shape is None:
        return np.matmul(a, b)
    out = np.empty(shape, a.dtype)
    over_cores(lambda rows: np.matmul(_rows(a, rows, shape), _rows(b, rows, shape),
                                      out=out[rows]), shape[0])
    return out
