"""What every backend provides: host transfers (counted), constants, sync, memory, DLPack."""
import importlib

import numpy as np

from engine.registry import kernels_for


class Backend:
    """Base class of a started backend. Subclasses set `name` and implement the hooks."""

    name = None
    counts_transfers = True  # the NumPy backend lives on the host and has nothing to count

    def __init__(self):
        self.transfers = {"host_to_device": 0, "device_to_host": 0}
        self._constants = {}
        importlib.import_module(f"engine.kernels.{self.name}")
        self.kernels = kernels_for(self.name)

    def from_host(self, array):
        """Copy a NumPy array to this backend's memory."""
        if self.counts_transfers:
            self.transfers["host_to_device"] += 1
        return self._upload(np.asarray(array, order="C"))  # ascontiguousarray makes 0-d 1-d

    def to_host(self, native):
        """Copy a native array to a new NumPy array."""
        if self.counts_transfers:
            self.transfers["device_to_host"] += 1
        return self._download(native)

    def constant(self, value, dtype):
        """A cached 0-d native array: scalars in `x * 2` are uploaded once, not per op."""
        key = (value, dtype)
        native = self._constants.get(key)
        if native is None:
            if len(self._constants) > 4096:
                self._constants.clear()
            native = self._constants[key] = self.from_host(np.asarray(value, dtype=dtype))
        return native

    def memory_info(self):
        """Bytes held by the backend's allocator, beyond live tensors."""
        return {}

    def synchronize(self):
        """Wait for queued device work (a no-op on synchronous backends)."""

    def describe(self):
        return self.name

    def to_dlpack(self, native, **kwargs):
        return native.__dlpack__(**kwargs)

    def from_dlpack(self, capsule_owner):
        raise NotImplementedError(f"Backend '{self.name}' cannot import DLPack tensors")

    def _upload(self, array):
        raise NotImplementedError

    def _download(self, native):
        raise NotImplementedError
