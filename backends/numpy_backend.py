"""The NumPy backend: the CPU reference every other backend is tested against."""
import os

import numpy as np

from engine.backends.base import Backend
from engine.runtime import register_backend


class NumpyBackend(Backend):
    name = "numpy"
    counts_transfers = False

    def _upload(self, array):
        return np.array(array, copy=True)

    def _download(self, native):
        return np.array(native, copy=True)

    def describe(self):
        blas = _blas_name()
        return f"CPU ({os.cpu_count()} cores, NumPy {np.__version__}{', ' + blas if blas else ''})"

    def from_dlpack(self, producer):
        return np.from_dlpack(producer)


def _blas_name():
    try:
        info = np.show_config(mode="dicts")
        return info["Build Dependencies"]["blas"]["name"]
    except Exception:  # older NumPy without mode="dicts"
        return ""


register_backend("numpy", NumpyBackend, priority=1, aliases=("cpu", "np"))
