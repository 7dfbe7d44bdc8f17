"""NumPy linear-algebra kernels: the batched GEMM goes straight to np.matmul (BLAS)."""
import numpy as np

from engine.registry import register_kernel


@register_kernel("BatchMatMul", "numpy")
def batch_matmul(a, b, transpose_a, transpose_b):
    if transpose_a:
        a = np.swapaxes(a, -1, -2)
    if transpose_b:
        b = np.swapaxes(b, -1, -2)
    return np.matmul(a, b)
