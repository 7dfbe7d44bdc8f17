"""Turning Python values, NumPy arrays and scalars into tensors on the right backend."""
import numpy as np

from engine import dtypes, runtime
from engine.tensor import Tensor, wrap


def convert_to_tensor(value, dtype=None, like=None):
    """A Tensor from `value`, on `like`'s backend (else the current backend).

    Python floats become float32 and ints int32 unless `dtype` says otherwise (TF.js's rule).
    Scalars next to a tensor use a cached device constant, so `x * 2` uploads nothing per call.
    """
    dtype = dtypes.as_dtype(dtype)
    if isinstance(value, Tensor):
        if dtype is not None and value.dtype != dtype:
            from engine.ops.elementwise import cast

            return cast(value, dtype)
        return value
    backend = like._backend if like is not None else runtime.current()
    if _lives_on_a_device(value):
        raise TypeError(f"Cannot convert a {type(value).__name__} on a device implicitly; use "
                        "engine.from_dlpack(...) to import device arrays")
    array = np.asarray(value)
    dtype = dtype or dtypes.infer_host_dtype(array)
    if array.ndim == 0 and like is not None:
        return wrap(backend.constant(array.item(), dtype), backend)
    return wrap(backend.from_host(array.astype(dtype, copy=False)), backend)


_DLPACK_CPU = 1  # DLDeviceType kDLCPU


def _lives_on_a_device(value):
    """True for arrays in device memory (CuPy, torch.cuda, ...): reading them is a transfer
    the user should ask for. CPU arrays (NumPy, torch CPU tensors) convert as host data."""
    if hasattr(value, "__cuda_array_interface__"):
        return True
    device = getattr(value, "__dlpack_device__", None)
    return device is not None and device()[0] != _DLPACK_CPU


def scalar_operand(value, like):
    """A Python scalar next to tensor `like`: adopts its dtype, except a float next to an int
    or bool tensor, which makes float32 (as TF.js does)."""
    dtype = like.dtype
    if isinstance(value, float) and not dtypes.is_floating(dtype):
        dtype = dtypes.float32
    elif isinstance(value, bool):
        dtype = dtypes.bool_ if dtype == dtypes.bool_ else dtype
    return wrap(like._backend.constant(value, dtype), like._backend)


def from_dlpack(producer, backend=None):
    """A tensor sharing memory with a DLPack producer (NumPy, CuPy, PyTorch) where possible."""
    target = runtime.backend(backend) if backend else runtime.current()
    return wrap(target.from_dlpack(producer), target)
