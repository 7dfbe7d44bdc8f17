"""CuPy linear-algebra kernels: the batched GEMM is one cupy.matmul call (cuBLAS).

Transposes are strided views that cuBLAS reads directly (no copy). Float32 GEMMs use TF32
only after engine.backends.cupy_backend.set_tf32(True).
"""
from engine.backends import cupy_backend
from engine.registry import register_kernel


@register_kernel("BatchMatMul", "cupy")
def batch_matmul(a, b, transpose_a, transpose_b):
    cp = cupy_backend.cp
    if transpose_a:
        a = cp.swapaxes(a, -1, -2)
    if transpose_b:
        b = cp.swapaxes(b, -1, -2)
    return cp.matmul(a, b)
