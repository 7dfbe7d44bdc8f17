"""Creating tensors: from data, filled, ranges, identity."""
import math

from engine import dtypes, runtime
from engine.dispatch import run_source_kernel
from engine.ops.convert import convert_to_tensor

__all__ = ["tensor", "full", "zeros", "ones", "zeros_like", "ones_like", "arange", "linspace",
           "eye"]


def _target(backend):
    return runtime.backend(backend) if backend is not None else runtime.current()


def _shape(op_name, shape):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if any(not isinstance(d, int) or d < 0 for d in shape):
        raise ValueError(f"Error in {op_name}: shape must be non-negative ints, got {shape}")
    return shape


def tensor(data, dtype=None, backend=None):
    """A tensor from Python scalars/lists or a NumPy array (floats default to float32)."""
    if backend is None:
        return convert_to_tensor(data, dtype=dtype)
    return convert_to_tensor(data, dtype=dtype).to(backend)


def full(shape, value, dtype=None, backend=None):
    """A tensor of `shape` filled with `value`."""
    if dtype is None:
        dtype = dtypes.bool_ if isinstance(value, bool) else (
            dtypes.int32 if isinstance(value, int) else dtypes.float32)
    return run_source_kernel("Fill", _target(backend), shape=_shape("full", shape),
                             value=value, dtype=dtypes.as_dtype(dtype))


def zeros(shape, dtype="float32", backend=None):
    return full(shape, 0, dtypes.as_dtype(dtype), backend)


def ones(shape, dtype="float32", backend=None):
    return full(shape, 1, dtypes.as_dtype(dtype), backend)


def zeros_like(x, dtype=None):
    x = convert_to_tensor(x)
    return run_source_kernel("Fill", x._backend, shape=x.shape, value=0,
                             dtype=dtypes.as_dtype(dtype) or x.dtype)


def ones_like(x, dtype=None):
    x = convert_to_tensor(x)
    return run_source_kernel("Fill", x._backend, shape=x.shape, value=1,
                             dtype=dtypes.as_dtype(dtype) or x.dtype)


def arange(start, stop=None, step=1, dtype=None, backend=None):
    """Values from start (inclusive) to stop (exclusive) by step, like numpy.arange."""
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise ValueError("Error in arange: step must not be 0")
    if dtype is None:
        dtype = dtypes.int32 if all(isinstance(v, int) for v in (start, stop, step)) \
            else dtypes.float32
    size = max(0, math.ceil((stop - start) / step))
    return run_source_kernel("Range", _target(backend), start=start, delta=step, size=size,
                             dtype=dtypes.as_dtype(dtype))


def linspace(start, stop, num, dtype="float32", backend=None):
    """`num` evenly spaced values from start to stop, both included."""
    if num < 1:
        raise ValueError(f"Error in linspace: num must be >= 1, got {num}")
    delta = (stop - start) / (num - 1) if num > 1 else 0.0
    return run_source_kernel("Range", _target(backend), start=float(start), delta=delta,
                             size=int(num), dtype=dtypes.as_dtype(dtype))


def eye(n, m=None, dtype="float32", backend=None):
    """Identity matrix of n rows and m (default n) columns."""
    from engine.ops.elementwise import cast, equal
    from engine.ops.shape import reshape

    m = n if m is None else m
    rows = reshape(arange(n, backend=backend), (n, 1))
    cols = reshape(arange(m, backend=backend), (1, m))
    return cast(equal(rows, cols), dtype)
