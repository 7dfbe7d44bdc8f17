"""CUDA C sources (*.cu) of the cupy backend, compiled at run time by cupy.RawModule.

Each .cu file holds templated __global__ kernels and, at its end, one explicit instantiation
per dtype (`template __global__ void name<float>(...);`). The instantiations are what
`nvcc --ptx` checks in CI and what this loader asks NVRTC for, so the two never disagree.
Kernels loop grid-stride over `long long` indices, so any launch size is correct.
"""
import functools
import pathlib
import re

import numpy as np

_FOLDER = pathlib.Path(__file__).parent
_INSTANTIATION = re.compile(r"^template __global__ void (\w+)<(\w+)>\(", re.MULTILINE)
_C_TYPES = {"float32": "float", "float64": "double"}
THREADS = 256
_MAX_BLOCKS = 65535


def source(name):
    return (_FOLDER / f"{name}.cu").read_text()


def instantiations(text):
    """The `kernel<type>` names explicitly instantiated in a .cu source."""
    return [f"{kernel}<{ctype}>" for kernel, ctype in _INSTANTIATION.findall(text)]


@functools.cache
def _module(name):
    from engine.backends.cupy_backend import cp

    text = source(name)
    return cp.RawModule(code=text, options=("-std=c++17",), name_expressions=instantiations(text))


def function(file, kernel, dtype):
    """The compiled kernel `kernel<dtype>` from kernels/cuda/<file>.cu."""
    return _module(file).get_function(f"{kernel}<{_C_TYPES[str(dtype)]}>")


def launch(kernel, total, *args):
    """Run `kernel` over `total` work items (grid-stride, so the grid may be capped)."""
    if total == 0:
        return
    blocks = min((total + THREADS - 1) // THREADS, _MAX_BLOCKS)
    kernel((blocks,), (THREADS,), args)


def launch_blocks(kernel, blocks, *args):
    """Run a kernel that gives each of `blocks` work items one block of THREADS threads
    (block reductions; their shared arrays are sized for THREADS)."""
    if blocks == 0:
        return
    kernel((min(blocks, _MAX_BLOCKS),), (THREADS,), args)


def ints(*values):
    """Kernel int arguments: CuPy passes a Python int as 64-bit, our kernels take 32-bit int."""
    return tuple(np.int32(v) for v in values)
