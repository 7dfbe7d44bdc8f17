"""The OpenCL backend: PyOpenCL arrays on one device, allocated from a memory pool.

The device is PYOPENCL_CTX when set, else the first GPU, else the first device of any type.
"""
import os

import numpy as np

from engine.backends.base import Backend
from engine.runtime import BackendUnavailable, register_backend

try:
    import pyopencl as cl
    import pyopencl.array as cl_array
    import pyopencl.tools as cl_tools
except ImportError:  # the backend then reports itself unavailable
    cl = None


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
        """A new uninitialised device array from the pool."""
        return cl_array.empty(self.queue, tuple(shape), np.dtype(dtype), allocator=self.pool)

    def _upload(self, array):
        self._check_dtype(array.dtype)
        native = self.empty(array.shape, array.dtype)
        if array.size:
            native.set(array)
        return native

    def _download(self, native):
        if not native.flags.c_contiguous:
            raise ValueError("opencl backend: only contiguous arrays are read back to the host")
        return native.get()

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
        raise NotImplementedError("opencl backend: PyOpenCL arrays do not support DLPack; "
                                  "move the tensor with .to('numpy') first")

    def from_dlpack(self, producer):
        raise NotImplementedError("opencl backend: PyOpenCL cannot import DLPack tensors; "
                                  "use engine.tensor(numpy_array) on the opencl backend")


register_backend("opencl", OpenCLBackend, priority=2, aliases=("cl",))
