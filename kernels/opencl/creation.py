"""OpenCL kernels that make new tensors from attributes only."""
import numpy as np

from engine.kernels.opencl import program, strided
from engine.registry import register_kernel


def filled(shape, value, dtype):
    """A new array of `shape` holding `value` everywhere."""
    out = program.empty(shape, dtype)
    strided.run("value", (), [], out, scalars=[(out.dtype, "value", value)])
    return out


@register_kernel("Fill", "opencl")
def fill(shape, value, dtype):
    return filled(shape, value, dtype)


@register_kernel("Range", "opencl")
def range_(start, delta, size, dtype):
    out = program.empty((size,), dtype)
    real = np.float64 if "float64" in program.backend().dtypes else np.float32
    strided.run("start + delta * get_global_id(0)", (), [], out,
                scalars=[(real, "start", start), (real, "delta", delta)])
    return out
