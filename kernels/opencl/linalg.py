"""OpenCL batched GEMM: A packed into tile panels, then a register-tiled kernel.

Packing makes A into (batch, M/TM, K, TM) panels, zero-padded to whole tiles, so transposes,
batch broadcasting and ragged edges are handled once; B is read in place when it is row-major
with N a multiple of the tile, else packed the same way into (batch, N/TN, K, TN). Per k the
kernel loads TM values of A and TN-wide vectors of B and does TM x TN multiply-adds in
registers (vector types, which PoCL maps to SIMD).
"""
import functools

import numpy as np

from engine.kernels.opencl import program, strided
from engine.kernels.opencl.creation import filled
from engine.registry import register_kernel

# Register tile (rows TM, columns TN, vector width) per device type; CPUs like wide vectors.
TILES = {"cpu": (16, 16, 16), "gpu": (4, 8, 8)}
# Wider B is packed: in place, each k would step to a far row (cache and TLB misses).
IN_PLACE_MAX_COLUMNS = 512


def tile_for(device):
    return TILES["cpu" if device.type & program.cl.device_type.CPU else "gpu"]


@functools.lru_cache(maxsize=None)
def _gemm_source(ctype, tm, tn, width):
    """Kernel computing one TM x TN tile per work-item as TM x (TN / width) vector sums."""
    vec, parts = f"{ctype}{width}", tn // width
    lines = [f"__kernel void gemm(__global const {ctype}* a_panels, __global const {vec}* "
             f"b_data, __global {ctype}* c, int M, int N, int K, long a_batch, long b_batch, "
             "long b_tile, int b_step)",
             "{",
             "    int n_tile = get_global_id(0), m_tile = get_global_id(1), batch = "
             "get_global_id(2);",
             f"    __global const {ctype}* a = a_panels + batch * a_batch + "
             f"(long)m_tile * K * {tm};",
             "    __global const " + vec + "* b_vectors = b_data + batch * b_batch + "
             "n_tile * b_tile;"]
    lines += [f"    {vec} acc{i}_{j} = 0;" for i in range(tm) for j in range(parts)]
    lines.append("    for (int k = 0; k < K; ++k) {")
    lines += [f"        {vec} row{j} = b_vectors[k * b_step + {j}];" for j in range(parts)]
    # Plain a * b + acc, which the compiler contracts to inline FMAs; PoCL would call the
    # fma() and vload builtins out of line, at a quarter of the speed.
    for i in range(tm):
        lines.append(f"        {vec} a{i} = ({vec})a[k * {tm} + {i}];")
        lines += [f"        acc{i}_{j} += a{i} * row{j};" for j in range(parts)]
    lines += ["    }",
              f"    int m0 = m_tile * {tm}, n0 = n_tile * {tn};",
              "    __global " + ctype + "* out = c + (long)batch * M * N;",
              f"    if (n0 + {tn} <= N) {{"]
    for i in range(tm):
        lines += [f"        if (m0 + {i} < M) {{"]
        lines += [f"            vstore{width}(acc{i}_{j}, 0, out + (long)(m0 + {i}) * N + n0 + "
                  f"{j * width});" for j in range(parts)]
        lines += ["        }"]
    lines += ["    } else {",
              f"        {ctype} spill[{tn}];"]
    for i in range(tm):
        lines += [f"        if (m0 + {i} < M) {{"]
        lines += [f"            vstore{width}(acc{i}_{j}, 0, spill + {j * width});"
                  for j in range(parts)]
        lines += [f"            for (int j = 0; n0 + j < N; ++j) "
                  f"out[(long)(m0 + {i}) * N + n0 + j] = spill[j];",
                  "        }"]
    lines += ["    }", "}"]
    return "\n".join(lines)


_PACK = """
__kernel void pack(__global const TYPE* x, long offset, long batch_stride, long row_stride,
                   long depth_stride, int rows, __global TYPE* panels)
{
    int k = get_global_id(0), panel = get_global_id(1), batch = get_global_id(2);
    int depth = get_global_size(0), count = get_global_size(1);
    __global const TYPE* source = x + offset + batch * batch_stride + k * depth_stride;
    __global TYPE* target = panels + (((long)batch * count + panel) * depth + k) * TILE;
    for (int i = 0; i < TILE; ++i) {
        int row = panel * TILE + i;
        target[i] = row < rows ? source[row * row_stride] : (TYPE)0;
    }
}
"""


def _batch_of_one(matrix):
    return matrix.view((1,) + matrix.shape, (0,) + matrix.strides)


def _pack(matrix_view, tile):
    """Panels (batch, ceil(R/tile), K, tile) of a (batch, R, K)-indexed view, zero-padded.

    Rows are grouped `tile` at a time and each panel is stored depth-major, so the GEMM kernel
    reads it front to back.
    """
    batch, rows, depth = matrix_view.shape
    panels = program.empty((batch, -(-rows // tile), depth, tile), matrix_view.dtype)
    code = _PACK.replace("TYPE", program.c_type(matrix_view.dtype)).replace("TILE", str(tile))
    program.launch(program.kernel(code, "pack"), (depth, panels.shape[1], batch), None,
                   matrix_view.data, *[np.int64(v) for v in (matrix_view.offset,
                                                             *matrix_view.strides)],
                   np.int32(rows), panels.data)
    return panels


@register_kernel("BatchMatMul", "opencl")
def batch_matmul(a, b, transpose_a, transpose_b):
    """(B, M, K) @ (B, K, N) with either transposed and a batch of 1 broadcasting; two
    matrices are a batch of one."""
    if a.ndim == 2:
        out = batch_matmul(_batch_of_one(a), _batch_of_one(b), transpose_a, transpose_b)
        return out.reshape(out.shape[1:])
    tm, tn, width = tile_for(program.backend().device)
    a_rows = a if not transpose_a else strided.permute(a, (0, 2, 1))   # (B, M, K)
    batch = max(a.shape[0], b.shape[0])
    m, k = a_rows.shape[1:]
    n = b.shape[1] if transpose_b else b.shape[2]
    if k == 0:
        return filled((batch, m, n), 0, a.dtype)
    out = program.empty((batch, m, n), a.dtype)
    a_panels = _pack(a_rows, tm)
    a_batch = 0 if a.shape[0] == 1 else a_panels.size // a_panels.shape[0]
    if (not transpose_b and n % tn == 0 and n <= IN_PLACE_MAX_COLUMNS and b.dense):
        b_data, b_tile, b_step = b, tn // width, n // width  # read (K, N) rows in place
    else:
        b_cols = b if transpose_b else strided.permute(b, (0, 2, 1))  # (B, N, K)
        b_data = _pack(b_cols, tn)
        b_tile, b_step = k * tn // width, tn // width
    b_batch = 0 if b.shape[0] == 1 else b_data.size // b_data.shape[0] // width
    kernel = program.kernel(_gemm_source(program.c_type(a.dtype), tm, tn, width), "gemm")
    program.launch(kernel, (-(-n // tn), a_panels.shape[1], batch), None,
                   a_panels.data, b_data.data, out.data, np.int32(m), np.int32(n),
                   np.int32(k), np.int64(a_batch), np.int64(b_batch), np.int64(b_tile),
                   np.int32(b_step))
    return out
