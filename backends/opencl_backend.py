"""The OpenCL backend: strided arrays over buffers of one device's memory pool.

The device is PYOPENCL_CTX when set, else the first GPU, else the first device of any type.
The native array is DeviceArray, not pyopencl.array.Array: making one is a pool allocation and
a small object (well under 1 us instead of 10), much of a tiny elementwise op's overhead.
"""
import functools
import math
import os

import numpy as np

from engine.backends.base import Backend
from engine.runtime import BackendUnavailable, register_backend

try:
    import pyopencl as cl
    import pyopencl.tools as cl_tools
except ImportError:  # the backend then reports itself unavailable
    cl = None


def contiguous_strides(shape):
    """Row-major strides, in elements, of `shape`."""
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return tuple(reversed(strides))


_LAYOUTS = {}  # shape -> (row-major strides, size): every new array asks, so they are kept


def _layout(shape):
    if len(_LAYOUTS) > 4096:  # a long session with ever new shapes
        _LAYOUTS.clear()
    layout = _LAYOUTS[shape] = (contiguous_strides(shape), math.prod(shape))
    return layout


@functools.lru_cache(maxsize=4096)
def _contiguous(shape, strides):
    """Whether `strides` lay `shape` out row-major (strides of size-1 dims do not matter)."""
    return all(n == 1 or s == want for n, s, want in zip(shape, strides, contiguous_strides(shape)))


class DeviceArray:
    """A view of a device buffer: `data` (a pooled cl.Buffer, None when empty) read at
    `offset` with `strides`, both counted in elements (not bytes as in NumPy), so a view is
    exactly what the strided kernels take. `shape` and `strides` are tuples."""

    __slots__ = ("data", "offset", "shape", "strides", "dtype", "size", "c_contiguous", "dense")

    def __init__(self, data, shape, dtype, strides=None, offset=0):
        self.data = data
        self.offset = offset
        self.shape = shape
        self.dtype = dtype
        layout = _LAYOUTS.get(shape) or _layout(shape)
        self.size = layout[1]
        if strides is None:
            self.strides = layout[0]
            self.c_contiguous = True
        else:
            self.strides = strides
            self.c_contiguous = strides == layout[0] or _contiguous(shape, strides)
        self.dense = self.c_contiguous and not offset  # `data` itself holds the elements

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    def view(self, shape, strides, offset=None):
        """Another view of the same buffer."""
        return DeviceArray(self.data, tuple(shape), self.dtype, tuple(strides),
                           self.offset if offset is None else offset)

    def reshape(self, *shape):
        """The same contiguous elements in another shape (one entry may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        if not self.c_contiguous:
            raise ValueError("DeviceArray.reshape: only contiguous arrays reshape as views")
        shape = tuple(shape)
        if -1 in shape:
            known = math.prod(n for n in shape if n != -1)
            shape = tuple(self.size // known if n == -1 else n for n in shape) if known else shape
        if math.prod(shape) != self.size:
            raise ValueError(f"DeviceArray.reshape: cannot reshape {self.shape} to {shape}")
        return DeviceArray(self.data, shape, self.dtype, offset=self.offset)

    def __repr__(self):
        return (f"DeviceArray(shape={self.shape}, dtype={self.dtype.name}, "
                f"strides={self.strides}, offset={self.offset})")


_DTYPES = {}  # np.dtype, name or scalar type -> np.dtype: a lookup costs less than np.dtype()


def _choose_device():
    """(context, device) following PYOPENCL_CTX, else GPU first, else any device."""
    if os.environ.get("PYOPENCL_CTX"):
        context = cl.create_some_context(interactive=False)
        return context, context.devices[0]
    devices = [d for p in cl.get_platforms() for d in p.get_devices()]
    if not devices:
        raise RuntimeError("no devices on any platform")
    gpus = [d for d in devices if d.type & cl.device_type.GPU]
    device = (gpus or devices)[0]
    return cl.Context([device]), device


class OpenCLBackend(Backend):
    name = "opencl"

    def __init__(self):
        if cl is None:
            raise BackendUnavailable("pyopencl not installed: pip install engine[opencl]")
        try:
            self.context, self.device = _choose_device()
        except Exception as error:  # no ICD, no platform, bad PYOPENCL_CTX
            raise BackendUnavailable(f"no OpenCL platform/device found: {error}") from error
        self.queue = cl.CommandQueue(self.context)
        self.pool = cl_tools.MemoryPool(cl_tools.ImmediateAllocator(self.queue))
        extensions = self.device.extensions.split()
        self.dtypes = ("float32", "int32", "int64", "bool")
        if "cl_khr_fp64" in extensions:
            self.dtypes += ("float64",)
        if "cl_khr_fp16" in extensions:
            self.dtypes += ("float16",)
        super().__init__()

    def empty(self, shape, dtype):
        """A new uninitialised contiguous device array from the pool."""
        if type(shape) is not tuple:
            shape = tuple(shape)
        known = _DTYPES.get(dtype)
        if known is None:
            known = _DTYPES[dtype] = np.dtype(dtype)
        nbytes = math.prod(shape) * known.itemsize
        return DeviceArray(self.pool.allocate(nbytes) if nbytes else None, shape, known)

    def _upload(self, array):
        self._check_dtype(array.dtype)
        native = self.empty(array.shape, array.dtype)
        if array.size:
            cl.enqueue_copy(self.queue, native.data, array)
        return native

    def _download(self, native):
        if not native.c_contiguous:
            raise ValueError("opencl backend: only contiguous arrays are read back to the host")
        host = np.empty(native.shape, native.dtype)
        if host.size:
            cl.enqueue_copy(self.queue, host, native.data,
                            src_offset=native.offset * native.dtype.itemsize)
        return host

    def _check_dtype(self, dtype):
        """float16 is always storable (elementwise kernels compute it in float)."""
        if np.dtype(dtype).name not in self.dtypes + ("float16",):
            raise TypeError(f"opencl backend: device '{self.device.name.strip()}' does not "
                            f"support dtype {np.dtype(dtype).name} (supported: "
                            f"{', '.join(self.dtypes)})")

    def memory_info(self):
        return {"pool_active_bytes": self.pool.active_bytes,
                "pool_managed_bytes": self.pool.managed_bytes}

    def synchronize(self):
        self.queue.finish()

    def describe(self):
        kind = next((name for flag, name in ((cl.device_type.GPU, "GPU"),
                                             (cl.device_type.CPU, "CPU"),
                                             (cl.device_type.ACCELERATOR, "accelerator"))
                     if self.device.type & flag), "other")
        return (f"{self.device.name.strip()} ({kind}, {self.device.vendor.strip()}, "
                f"{self.device.platform.name.strip()})")

    def to_dlpack(self, native, **kwargs):
        raise NotImplementedError("opencl backend: OpenCL buffers do not support DLPack; "
                                  "move the tensor with .to('numpy') first")

    def from_dlpack(self, producer):
        raise NotImplementedError("opencl backend: PyOpenCL cannot import DLPack tensors; "
                                  "use engine.tensor(numpy_array) on the opencl backend")


register_backend("opencl", OpenCLBackend, priority=2, aliases=("cl",))
