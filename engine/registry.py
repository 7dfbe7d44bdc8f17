"""The op registry: kernels keyed by (op, backend) and gradients keyed by op.

This is TF.js's kernel registry in Python. A kernel takes native arrays (numpy.ndarray,
cupy.ndarray, the OpenCL backend's DeviceArray) plus keyword attributes and returns native
arrays. A gradient is written once with engine ops, so every backend with the forward kernels trains.
"""
_KERNELS = {}  # (op, backend) -> kernel
_KERNELS_BY_BACKEND = {}  # backend -> {op: kernel}: the dispatch path's one lookup
_GRADIENTS = {}


class KernelNotRegistered(NotImplementedError):
    """Raised when an op has no kernel on the backend of its inputs."""


def register_kernel(op, backend, override=False):
    """Decorator: register `fn` as the kernel of `op` on `backend`."""

    def decorate(fn):
        key = (op, backend)
        if key in _KERNELS and not override:
            raise ValueError(f"Kernel '{op}' is already registered for backend '{backend}'")
        _KERNELS[key] = fn
        kernels_for(backend)[op] = fn
        return fn

    return decorate


def register_gradient(op, override=False):
    """Decorator: register `fn(dy, node)` as the gradient of `op`.

    `dy` is the output's gradient; for several outputs, a tuple with None for those no
    gradient reached. `node` has `.inputs`, `.outputs`, `.attrs` and `.needs` (which inputs
    want a gradient);
    `fn` returns one gradient (or None) per input, as a tuple, or a single tensor for one input.
    """

    def decorate(fn):
        if op in _GRADIENTS and not override:
            raise ValueError(f"Gradient of '{op}' is already registered")
        _GRADIENTS[op] = fn
        return fn

    return decorate


class KernelTable(dict):
    """One backend's live {op: kernel} map; a missing op raises KernelNotRegistered, so the
    dispatch path looks kernels up with a plain subscript."""

    def __init__(self, backend):
        super().__init__()
        self.backend = backend

    def __missing__(self, op):
        raise KernelNotRegistered(_missing_kernel_message(op, self.backend))


def kernels_for(backend):
    """The live {op: kernel} map of one backend."""
    table = _KERNELS_BY_BACKEND.get(backend)
    if table is None:
        table = _KERNELS_BY_BACKEND[backend] = KernelTable(backend)
    return table


def get_kernel(op, backend):
    kernel = _KERNELS.get((op, backend))
    if kernel is None:
        raise KernelNotRegistered(_missing_kernel_message(op, backend))
    return kernel


def _missing_kernel_message(op, backend):
    have = sorted(b for (o, b) in _KERNELS if o == op)
    where = f" (registered for: {', '.join(have)})" if have else " (no backend has it)"
    return f"Kernel '{op}' is not registered for backend '{backend}'{where}"


def get_gradient(op):
    grad = _GRADIENTS.get(op)
    if grad is None:
        raise LookupError(f"No gradient is registered for op '{op}'")
    return grad


def list_kernels(backend=None):
    """Sorted op names with a kernel on `backend` (or on any backend when None)."""
    return sorted({o for (o, b) in _KERNELS if backend is None or b == backend})


def list_gradients():
    return sorted(_GRADIENTS)
