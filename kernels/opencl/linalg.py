"""OpenCL batched GEMM: operands packed into tile panels, then a register-tiled kernel.

Packing (strided copies) makes A into (batch, M/TM, K, TM) and B into (batch, N/TN, K, TN),
zero-padded to whole tiles, so transposes, batch broadcasting and ragged edges are handled
once, and the kernel streams two contiguous panels: per k it loads TM values of A and a TN-wide
vector of B and does TM x TN multiply-adds in registers (vector types, which PoCL maps to SIMD).
"""
import functools

import numpy as np

from engine.kernels.opencl import program, strided
from engine.kernels.opencl.creation import filled
from engine.registry import register_kernel

# Register tile (rows TM, columns TN, vector width) per device type; CPUs like wide vectors.
TILES = {"cpu": (16, 16, 16), "gpu": (4, 8, 8)}


def tile_for(device):
    return TILES["cpu" if device.type & program.cl.device_type.CPU else "gpu"]


@functools.lru_cache(maxsize=None)
def _gemm_source(ctype, tm, tn, width):
    """Kernel computing one TM x TN tile per work-item as TM x (TN / width) vector sums."""
    vec, parts = f"{ctype}{width}", tn // width
    lines = [f"__kernel void gemm(__global const {ctype}* a_panels, __global const {ctype}* "
             f"b_panels, __global {ctype}* c, int M, int N, int K, long a_batch, long b_batch)",
             "{",
             "    int n_tile = get_global_id(0), m_tile = get_global_id(1), batch = "
             "get_global_id(2);",
             f"    __global const {ctype}* a = a_panels + batch * a_batch + "
             f"(long)m_tile * K * {tm};",
             f"    __global const {ctype}* b = b_panels + batch * b_batch + "
             f"(long)n_tile * K * {tn};"]
    lines.append(f"    __global const {vec}* b_vectors = (__global const {vec}*)b;")
    lines += [f"    {vec} acc{i}_{j} = 0;" for i in range(tm) for j in range(parts)]
    lines.append("    for (int k = 0; k < K; ++k) {")
    lines += [f"        {vec} row{j} = b_vectors[k * {parts} + {j}];" for j in range(parts)]
    for i in range(tm):
        lines.append(f"        {vec} a{i} = ({vec})a[k * {tm} + {i}];")
        lines += [f"        acc{i}_{j} = {_multiply_add(ctype, f'a{i}', f'row{j}', f'acc{i}_{j}')};"
                  for j in range(parts)]
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


def _multiply_add(ctype, a, b, acc):
    """a * b + acc; plain operators, which the compiler contracts to FMA under -cl-mad-enable
    and keeps inline (PoCL calls the fma() builtin out of line)."""
    return f"{acc} + {a} * {b}"


def _pack(matrix_view, tile):
    """Panels (batch, ceil(R/tile), K, tile) of a (batch, R, K)-indexed view, zero-padded.

    `matrix_view` has axes (batch, rows, depth) after any transpose; rows are grouped `tile` at
    a time, and each panel stores depth-major so the kernel reads it front to back.
    """
    batch, rows, depth = matrix_view.shape
    panels = -(-rows // tile)
    shape = (batch, panels, depth, tile)
    packed = filled(shape, 0, matrix_view.dtype) if rows % tile else program.empty(
        shape, matrix_view.dtype)
    target = strided.view(packed)
    sb, sr, sk = matrix_view.strides
    full = rows // tile
    if full:
        source = matrix_view._replace(shape=(batch, full, depth, tile),
                                      strides=(sb, sr * tile, sk, sr))
        strided.run("x", ("x",), [source], strided.slice_view(
            target, (0, 0, 0, 0), (batch, full, depth, tile), (1, 1, 1, 1)))
    if rows % tile:
        tail = rows % tile
        source = matrix_view._replace(offset=matrix_view.offset + full * tile * sr,
                                      shape=(batch, 1, depth, tail), strides=(sb, 0, sk, sr))
        strided.run("x", ("x",), [source], strided.slice_view(
            target, (0, full, 0, 0), (batch, full + 1, depth, tail), (1, 1, 1, 1)))
    return packed


@register_kernel("BatchMatMul", "opencl")
def batch_matmul(a, b, transpose_a, transpose_b):
    """(B, M, K) @ (B, K, N) with either transposed and a batch of 1 broadcasting."""
    tm, tn, width = tile_for(program.backend().device)
    a_view, b_view = strided.view(a), strided.view(b)
    a_rows = a_view if not transpose_a else strided.permute(a_view, (0, 2, 1))   # (B, M, K)
    b_cols = strided.permute(b_view, (0, 2, 1)) if not transpose_b else b_view  # (B, N, K)
    batch = max(a.shape[0], b.shape[0])
    m, k = a_rows.shape[1:]
    n = b_cols.shape[1]
    if k == 0:
        return filled((batch, m, n), 0, a.dtype)
    out = program.empty((batch, m, n), a.dtype)
    a_panels, b_panels = _pack(a_rows, tm), _pack(b_cols, tn)
    a_batch = 0 if a.shape[0] == 1 else a_panels[0].size
    b_batch = 0 if b.shape[0] == 1 else b_panels[0].size
    kernel = program.kernel(_gemm_source(program.c_type(a.dtype), tm, tn, width), "gemm")
    program.launch(kernel, (b_panels.shape[1], a_panels.shape[1], batch), None,
                   a_panels.data, b_panels.data, out.data, np.int32(m), np.int32(n),
                   np.int32(k), np.int64(a_batch), np.int64(b_batch))
    return out
