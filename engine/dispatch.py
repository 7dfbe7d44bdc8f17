"""One dispatch path: pick the kernel for (op, backend of the inputs), run it, tape it.

Ops validate their inputs before calling here; kernels get native arrays and attributes.
"""
from engine import autodiff
from engine.registry import KernelNotRegistered, _missing_kernel_message
from engine.tensor import Tensor


def run_kernel(op, inputs, **attrs):
    """Run `op` on the backend of `inputs` (a sequence of Tensors); returns Tensor or tuple."""
    backend = inputs[0]._backend
    natives = []
    for tensor in inputs:
        if tensor._backend is not backend:
            raise ValueError(
                f"Error in {op}: inputs live on different backends ('{backend.name}' and "
                f"'{tensor._backend.name}'); move one with .to('{backend.name}')")
        natives.append(tensor.native)
    kernel = backend.kernels.get(op)
    if kernel is None:
        raise KernelNotRegistered(_missing_kernel_message(op, backend.name))
    result = kernel(*natives, **attrs)
    if type(result) is tuple:
        outputs = tuple(Tensor(r, backend) for r in result)
    else:
        outputs = Tensor(result, backend)
    if autodiff.TAPES:
        autodiff.record(op, inputs, outputs, attrs)
    return outputs


def run_source_kernel(op, backend, **attrs):
    """Run an op that has no tensor inputs (fill, range, random) on `backend`."""
    kernel = backend.kernels.get(op)
    if kernel is None:
        raise KernelNotRegistered(_missing_kernel_message(op, backend.name))
    return Tensor(kernel(**attrs), backend)
