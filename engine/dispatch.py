"""One dispatch path: pick the kernel for (op, backend of the inputs), run it, tape it.

Ops validate their inputs before calling here; kernels get native arrays and attributes.
"""
from engine import autodiff
from engine.registry import KernelNotRegistered, _missing_kernel_message
from engine.tensor import Tensor

_new_object = object.__new__
_TAPES = autodiff.TAPES  # the live list (mutated, never rebound): a global, not an attribute


def run_kernel(op, inputs, **attrs):
    """Run `op` on the backend of `inputs` (a sequence of Tensors); returns Tensor or tuple."""
    first = inputs[0]
    backend = first._backend
    # One or two inputs (most ops) are unpacked by hand: on tiny tensors a loop and a list
    # cost more than the kernel.
    if len(inputs) == 1:
        natives = (first.native,)
    elif len(inputs) == 2:
        second = inputs[1]
        if second._backend is not backend:
            raise _mixed_backends_error(op, backend, second._backend)
        natives = (first.native, second.native)
    else:
        natives = _natives_on(backend, op, inputs)
    try:
        kernel = backend.kernels[op]
    except KeyError:
        raise KernelNotRegistered(_missing_kernel_message(op, backend.name)) from None
    # Most ops have no attributes; a call without ** skips unpacking an empty dict.
    result = kernel(*natives, **attrs) if attrs else kernel(*natives)
    if type(result) is tuple:
        outputs = tuple(Tensor(r, backend) for r in result)
    else:  # Tensor(result, backend) without the Python-level __init__ call: 45 of 110 ns saved
        outputs = _new_object(Tensor)
        outputs.native = result
        outputs._backend = backend
    if _TAPES:
        autodiff.record(op, inputs, outputs, attrs)
    return outputs


def _natives_on(backend, op, inputs):
    """The native arrays of `inputs`, which must all live on `backend`."""
    for tensor in inputs:
        if tensor._backend is not backend:
            raise _mixed_backends_error(op, backend, tensor._backend)
    return [tensor.native for tensor in inputs]


def _mixed_backends_error(op, backend, other):
    return ValueError(f"Error in {op}: inputs live on different backends ('{backend.name}' and "
                      f"'{other.name}'); move one with .to('{backend.name}')")


def run_source_kernel(op, backend, **attrs):
    """Run an op that has no tensor inputs (fill, range, random) on `backend`."""
    kernel = backend.kernels.get(op)
    if kernel is None:
        raise KernelNotRegistered(_missing_kernel_message(op, backend.name))
    return Tensor(kernel(**attrs), backend)
