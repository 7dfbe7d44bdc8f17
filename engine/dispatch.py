"""One dispatch path: pick the kernel for (op, backend of the inputs), run it, tape it.

Ops validate their inputs before calling here; kernels get native arrays and attributes.
"""
from engine import autodiff, tracing
from engine.tensor import Tensor, wrap

_TAPES = autodiff.TAPES  # the live list (mutated, never rebound): a global, not an attribute
_RECORDING = tracing.RECORDING  # likewise


def run_kernel(op, inputs, **attrs):
    """Run `op` on the backend of `inputs` (a sequence of Tensors); returns Tensor or tuple."""
    # One or two inputs (most ops) are unpacked by hand and the kernel called without * or **
    # where it can be: on tiny tensors each packing step costs about as much as a NumPy add.
    if len(inputs) == 2:
        first, second = inputs
        backend = first._backend
        if second._backend is not backend:
            raise _mixed_backends_error(op, backend, second._backend)
        kernel = backend.kernels[op]
        result = (kernel(first.native, second.native, **attrs) if attrs
                  else kernel(first.native, second.native))
    elif len(inputs) == 1:
        backend = inputs[0]._backend
        kernel = backend.kernels[op]
        result = kernel(inputs[0].native, **attrs) if attrs else kernel(inputs[0].native)
    else:
        backend = inputs[0]._backend
        kernel = backend.kernels[op]
        result = kernel(*_natives_on(backend, op, inputs), **attrs)
    if type(result) is tuple:
        outputs = tuple(wrap(r, backend) for r in result)
    else:  # wrap(result, backend), inlined: a call costs a tenth of a tiny kernel
        outputs = Tensor()
        outputs.native = result
        outputs._backend = backend
    if _TAPES:
        autodiff.record(op, inputs, outputs, attrs)
    if _RECORDING:
        _RECORDING[0].kernel_ran(op, kernel, inputs, attrs, outputs)
    return outputs


def run_binary_kernel(op, first, second):
    """run_kernel(op, (first, second)) for a kernel of two tensors, no attributes and one
    output (the elementwise binary ops): no tuple or keyword packing, and no call of
    run_kernel, on the path where a tiny tensor's op spends a fifth of its time (add of 8
    floats: 790 -> 660 ns; NumPy's own add takes 300)."""
    backend = first._backend
    if second._backend is not backend:
        raise _mixed_backends_error(op, backend, second._backend)
    kernel = backend.kernels[op]
    output = Tensor()
    output.native = kernel(first.native, second.native)
    output._backend = backend
    if _TAPES:
        autodiff.record(op, (first, second), output, {})
    if _RECORDING:
        _RECORDING[0].kernel_ran(op, kernel, (first, second), {}, output)
    return output


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
    kernel = backend.kernels[op]
    output = wrap(kernel(**attrs), backend)
    if _RECORDING:
        _RECORDING[0].source_kernel_ran(op, kernel, attrs, output)
    return output
