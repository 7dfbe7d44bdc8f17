"""The CuPy backend: NVIDIA GPUs through CuPy (cuBLAS GEMM, CUDA kernels compiled at run time).

Kernels live in kernels/cupy/ (CuPy routines) and kernels/cuda/*.cu (raw CUDA C, compiled by
NVRTC on first use and cached on disk by CuPy in CUPY_CACHE_DIR).

TF32 is off by default: float32 GEMMs and convolutions run in full float32 (24-bit mantissa).
Opt in with ENGINE_CUPY_TF32=1 (read when the backend starts) or, at run time,
`engine.backends.cupy_backend.set_tf32(True)`: cuBLAS then multiplies float32 inputs on tensor
cores rounded to TF32 (10-bit mantissa, relative error about 1e-3 per product, float32
accumulation), several times faster on Ampere and later GPUs.
"""
import os

from engine.backends.base import Backend
from engine.runtime import BackendUnavailable, register_backend

try:
    import cupy as cp
    _IMPORT_FAILURE = None
except ModuleNotFoundError as error:
    cp = None
    _IMPORT_FAILURE = ("cupy not installed: pip install engine[cuda12] (or engine[cuda13]) "
                       f"({error})")
except Exception as error:  # an installed CuPy that cannot load its CUDA libraries
    cp = None
    _IMPORT_FAILURE = f"cupy failed to import: {type(error).__name__}: {error}"

DTYPES = ("float16", "float32", "float64", "int32", "int64", "bool")


def set_tf32(enabled):
    """Let float32 GEMMs (and so convolutions) use TF32 tensor cores (10-bit mantissa)."""
    from cupy._core import _routines_linalg as linalg

    compute_type = linalg.COMPUTE_TYPE_TF32 if enabled else linalg.COMPUTE_TYPE_FP32
    linalg.set_compute_type(cp.float32, compute_type)


class CupyBackend(Backend):
    name = "cupy"
    dtypes = DTYPES

    def __init__(self):
        super().__init__()
        set_tf32(os.environ.get("ENGINE_CUPY_TF32", "0").strip() == "1")

    def _upload(self, array):
        return cp.asarray(array)

    def _download(self, native):
        return cp.asnumpy(native)

    def synchronize(self):
        cp.cuda.get_current_stream().synchronize()

    def memory_info(self):
        """CuPy's pool: bytes held by live arrays and bytes held in all (nvidia-smi shows the
        total as used, cached free blocks included)."""
        pool = cp.get_default_memory_pool()
        return {"pool_used_bytes": pool.used_bytes(), "pool_total_bytes": pool.total_bytes()}

    def describe(self):
        device = cp.cuda.Device()
        props = cp.cuda.runtime.getDeviceProperties(device.id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        memory_gib = props["totalGlobalMem"] / 2 ** 30
        return (f"{name} ({memory_gib:.1f} GiB, compute capability {props['major']}."
                f"{props['minor']}, CuPy {cp.__version__})")

    def from_dlpack(self, producer):
        return cp.from_dlpack(producer)


def _start():
    """Build the backend, or say why it cannot start."""
    if cp is None:
        raise BackendUnavailable(_IMPORT_FAILURE)
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as error:
        raise BackendUnavailable(f"no CUDA driver/device: {type(error).__name__}: {error}")
    if count == 0:
        raise BackendUnavailable("no CUDA driver/device: CUDA reports no devices")
    return CupyBackend()


register_backend("cupy", _start, priority=3, aliases=("cuda", "gpu"))
