"""How a workload is timed on one implementation.

The first call (which includes compiling kernels, building programs, tracing) is timed on its
own and reported apart. After one more warm-up call, the number of calls per sample is raised
until a sample lasts `min_sample_s`, so microsecond ops are not lost in timer resolution.
Each sample ends with the implementation's synchronize(), so queued device work is counted.
The result is the median time per call over the samples, with their min and max.
"""
import time
from dataclasses import dataclass

import numpy as np

from benchmarks.peers import NotAvailable


@dataclass(frozen=True)
class Settings:
    repeats: int          # samples per measurement
    min_sample_s: float   # a sample repeats the call until it lasts this long
    budget_s: float       # fewer samples (not fewer than 3) when one call is slow


FULL = Settings(repeats=9, min_sample_s=0.02, budget_s=2.0)
QUICK = Settings(repeats=3, min_sample_s=0.002, budget_s=0.3)


def prepare(workload, implementation, seed=0):
    """Set up `workload` on `implementation` with fresh random inputs and make the first call.

    Returns (call, first_call_s). Raises NotAvailable when the implementation lacks something
    the workload needs (an op not defined yet, a kernel not registered on the backend).
    """
    setup = workload.setups.get(implementation.family)
    if setup is None:
        raise NotAvailable(f"{implementation.name} has no version of {workload.name}")
    inputs = workload.make_inputs(np.random.default_rng(seed))
    implementation.activate()
    try:
        call = setup(implementation, inputs)
        start = time.perf_counter()
        call()
        implementation.synchronize()
        first_call_s = time.perf_counter() - start
    except NotImplementedError as error:  # includes the engine's KernelNotRegistered
        raise NotAvailable(str(error)) from error
    return call, first_call_s


def measure(call, synchronize, settings):
    """Seconds per call of an already prepared `call`: dict of median, min, max, samples."""
    call()
    synchronize()
    number = 1
    while True:
        elapsed = _sample(call, synchronize, number) * number
        if elapsed >= settings.min_sample_s or number >= 1 << 20:
            break
        number *= min(10, max(2, int(settings.min_sample_s / max(elapsed, 1e-9)) + 1))
    repeats = max(3, min(settings.repeats, int(settings.budget_s / max(elapsed, 1e-9))))
    samples = [_sample(call, synchronize, number) for _ in range(repeats)]
    return {"median_s": float(np.median(samples)), "min_s": min(samples),
            "max_s": max(samples), "repeats": repeats, "number": number}


def _sample(call, synchronize, number):
    start = time.perf_counter()
    for _ in range(number):
        call()
    synchronize()
    return (time.perf_counter() - start) / number


def run(workload, implementation, settings, seed=0):
    """One result row: timing and rates, or status 'skipped'/'failed' with a note.

    None when the implementation's family has no version of the workload (a peer that only
    does GEMM, say): that is no news, so it makes no row."""
    if implementation.family not in workload.setups:
        return None
    row = {"workload": workload.name, "group": workload.group,
           "implementation": implementation.name, "engine": implementation.is_engine,
           "device_class": implementation.device_class}
    try:
        call, first_call_s = prepare(workload, implementation, seed)
        timing = measure(call, implementation.synchronize, settings)
    except NotAvailable as error:
        return {**row, "status": "skipped", "note": f"not available: {error}"}
    except Exception as error:  # a broken op must not stop the other measurements
        return {**row, "status": "failed", "note": f"{type(error).__name__}: {error}"}
    median = timing["median_s"]
    return {**row, "status": "ok", "first_call_s": first_call_s, **timing,
            "gflops": workload.flops / median / 1e9 if workload.flops else None,
            "gbps": workload.bytes / median / 1e9 if workload.bytes else None,
            "host_cpu": implementation.runs_on_host_cpu()}
