"""The machine a run measured, and its measured ceilings (BLAS peak, copy bandwidth)."""
import os
import platform

import numpy as np

from benchmarks.runner import Settings, measure

CEILING_SETTINGS = Settings(repeats=5, min_sample_s=0.05, budget_s=1.0)

# Older OpenBLAS needed these on this kind of host; a current NumPy runs slower with them.
OPENBLAS_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                      "OMP_NUM_THREADS", "POCL_CPU_MAX_CU_COUNT", "PYOPENCL_CTX")


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_library():
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy has no mode="dicts"
        return "unknown"


def describe(implementations, missing):
    """Everything needed to read the numbers later: CPU, cores, BLAS, devices, environment."""
    import engine

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_library(),
        "engine_backends": [{"name": row["name"], "available": row["available"],
                             "device": row["device"], "reason": row["reason"]}
                            for row in engine.list_backends()],
        "implementations": {impl.name: impl.describe() for impl in implementations},
        "not_available": missing,
        "environment": {name: os.environ.get(name) for name in OPENBLAS_VARIABLES},
        "load_average": os.getloadavg(),  # others' work on a shared host skews every number
    }


def measure_ceilings():
    """The host CPU's measured float32 GEMM peak (NumPy SGEMM 2048) and copy bandwidth, each
    from its best sample: a ceiling is what the machine reached, not what it typically does."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2048, 2048), dtype=np.float32) for _ in range(2))
    gemm = measure(lambda: np.matmul(a, b), lambda: None, CEILING_SETTINGS)
    source = rng.standard_normal(32 * 1024 * 1024, dtype=np.float32)
    target = np.empty_like(source)
    copy = measure(lambda: np.copyto(target, source), lambda: None, CEILING_SETTINGS)
    return {"blas_gflops": 2.0 * 2048 ** 3 / gemm["min_s"] / 1e9,
            "copy_gbps": 2.0 * source.nbytes / copy["min_s"] / 1e9,
            "how": "best of NumPy SGEMM 2048 (float32) and of np.copyto of 128 MiB "
                   "(read + write); data that fit in cache can exceed the copy bandwidth"}
