"""OpenCL fused optimizer updates: one launch per variable writes its new value and slots.

The kernels are in optim.cl; a small header per dtype says how elements are stored (half goes
through vload_half/vstore_half and computes in float, so devices without cl_khr_fp16 run it).
Factors such as 1 - beta_1 are computed on the host in double, as the NumPy kernels do.
"""
import functools

import numpy as np

from engine.kernels.opencl import program, strided
from engine.registry import register_kernel

_HALF_ACCESS = ("#define LOAD(p, i) vload_half(i, p)\n"
                "#define STORE(value, p, i) vstore_half(value, i, p)\n")
_PLAIN_ACCESS = ("#define LOAD(p, i) ((REAL)(p)[i])\n"
                 "#define STORE(value, p, i) ((p)[i] = (TYPE)(value))\n")


@functools.cache
def _source(dtype):
    header = (f"#define TYPE {program.c_type(dtype)}\n#define REAL {program.compute_type(dtype)}\n"
              + (_HALF_ACCESS if program.c_type(dtype) == "half" else _PLAIN_ACCESS))
    return header + program.read_source("optim.cl")


def _update(name, inputs, outputs_count, scalars):
    """Launch kernel `name` over every element; returns its `outputs_count` new arrays.

    Float scalars go in the kernel's REAL type; NumPy scalars (flags) go as they are."""
    inputs = [strided.dense(array) for array in inputs]
    dtype = inputs[0].dtype
    outputs = tuple(program.empty(inputs[0].shape, dtype) for _ in range(outputs_count))
    program.launch(program.kernel(_source(dtype), name), (inputs[0].size,), None,
                   *[array.data for array in inputs + list(outputs)],
                   *[value if isinstance(value, np.generic) else program.scalar(dtype, value)
                     for value in scalars])
    return outputs


@register_kernel("ApplyAdam", "opencl")
def apply_adam(variable, gradient, m, v, alpha, beta_1, beta_2, epsilon):
    return _update("apply_adam", (variable, gradient, m, v), 3,
                   (alpha, 1 - beta_1, 1 - beta_2, epsilon))


@register_kernel("ApplyMomentum", "opencl")
def apply_momentum(variable, gradient, m, learning_rate, momentum, nesterov):
    return _update("apply_momentum", (variable, gradient, m), 2,
                   (learning_rate, momentum, np.int32(nesterov)))


@register_kernel("ApplyRMSProp", "opencl")
def apply_rmsprop(variable, gradient, v, learning_rate, rho, epsilon):
    return _update("apply_rmsprop", (variable, gradient, v), 2,
                   (learning_rate, rho, 1 - rho, epsilon))
