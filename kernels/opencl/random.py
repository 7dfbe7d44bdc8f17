"""OpenCL random kernels: the counter-based generator of kernels/numpy/random.py, ported to
random.cl so every backend draws the same numbers for the same seed."""
import numpy as np

from engine.kernels.opencl import program
from engine.registry import register_kernel

_TRUNCATION_ROUNDS = 8
_TRUNCATION_BOUND = 2.0


_STORE_HALF = "#define STORE(value, i) vstore_half(value, i, out)\n"
_STORE = "#define STORE(value, i) out[i] = (OUT)(value)\n"


def _kernel(name, dtype):
    """The kernel `name` writing `dtype`, computing in double where the device has it."""
    real = "double" if "float64" in program.backend().dtypes else "float"
    out_type = program.c_type(dtype)
    source = ((_STORE_HALF if out_type == "half" else _STORE) + program.read_source("random.cl"))
    source = (source.replace("OUT", out_type)
              .replace("REAL", real).replace("ROUNDS", f"{_TRUNCATION_ROUNDS}u")
              .replace("BOUND", f"(({real}){_TRUNCATION_BOUND})"))
    return program.kernel(source, name), np.float64 if real == "double" else np.float32


def _draw(name, shape, dtype, seed, *args):
    out = program.empty(shape, dtype)
    kernel, real = _kernel(name, dtype)
    scalars = [real(a) if isinstance(a, float) else a for a in args]
    program.launch(kernel, (out.size,), None, out.data, np.uint32(seed % 2 ** 32), *scalars)
    return out


@register_kernel("RandomUniform", "opencl")
def random_uniform(shape, seed, minval, maxval, dtype):
    return _draw("random_uniform", shape, dtype, seed, float(minval), float(maxval),
                 np.int32(np.dtype(dtype).kind in "iu"))


@register_kernel("RandomNormal", "opencl")
def random_normal(shape, seed, mean, stddev, dtype):
    return _draw("random_normal", shape, dtype, seed, float(mean), float(stddev))


@register_kernel("TruncatedNormal", "opencl")
def truncated_normal(shape, seed, mean, stddev, dtype):
    size = int(np.prod(shape, dtype=np.int64))
    return _draw("truncated_normal", shape, dtype, seed, float(mean), float(stddev),
                 np.uint32(size % 2 ** 32))
