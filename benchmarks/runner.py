"""How a workload is timed on its implementations.

The first call (which includes compiling kernels, building programs, tracing) is timed on its
own and reported apart. After one more warm-up call, the number of calls per sample is raised
until a sample lasts `min_sample_s`, so microsecond ops are not lost in timer resolution.
Each sample ends with the implementation's synchronize(), so queued device work is counted.
Each implementation's samples are taken in one block, after a pause and a warm-up call.
Interleaving samples round by round was tried first: it left the previous library's thread
pools (OpenBLAS, OpenMP, PoCL spin-wait after their work) on the cores and made PyTorch look
2-8x slower than it is when measured alone.
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


# Pause before each implementation's block: the thread pools of the library measured before
# (OpenBLAS, OpenMP, PoCL) spin-wait for a while after their work and would steal cores.
SETTLE_S = 0.05

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


def calibrate(call, synchronize, settings):
    """After one warm-up call: (calls per sample, samples to take) for `call`."""
    call()
    synchronize()
    number = 1
    while True:
        elapsed = _sample(call, synchronize, number) * number
        if elapsed >= settings.min_sample_s or number >= 1 << 20:
            break
        number *= min(10, max(2, int(settings.min_sample_s / max(elapsed, 1e-9)) + 1))
    return number, max(3, min(settings.repeats, int(settings.budget_s / max(elapsed, 1e-9))))


def summarize(samples, number):
    return {"median_s": float(np.median(samples)), "min_s": min(samples),
            "max_s": max(samples), "repeats": len(samples), "number": number}


def measure(call, synchronize, settings):
    """Seconds per call of an already prepared `call`: dict of median, min, max, samples."""
    number, repeats = calibrate(call, synchronize, settings)
    return summarize([_sample(call, synchronize, number) for _ in range(repeats)], number)


def _sample(call, synchronize, number):
    start = time.perf_counter()
    for _ in range(number):
        call()
    synchronize()
    return (time.perf_counter() - start) / number


def run_workload(workload, implementations, settings, seed=0):
    """Result rows of `workload` on each implementation that has a version of it.

    Each implementation is sampled in one block (see the module docstring). A row is
    'ok' with timing and rates, or 'skipped' (something missing) or 'failed' with a note."""
    rows, timed = [], []
    for impl in implementations:
        if impl.family not in workload.setups:
            continue  # a peer that only does GEMM, say: no news, no row
        row = {"workload": workload.name, "group": workload.group,
               "implementation": impl.name, "engine": impl.is_engine,
               "device_class": impl.device_class, "status": "ok"}
        rows.append(row)
        try:
            call, row["first_call_s"] = prepare(workload, impl, seed)
            number, repeats = calibrate(call, impl.synchronize, settings)
        except Exception as error:
            _record_error(row, error)
            continue
        timed.append((row, impl, call, number, repeats, []))
    for row, impl, call, number, repeats, samples in timed:
        impl.activate()
        time.sleep(SETTLE_S)
        try:
            _sample(call, impl.synchronize, number)  # back in cache and in its own threads
            samples.extend(_sample(call, impl.synchronize, number) for _ in range(repeats))
        except Exception as error:
            _record_error(row, error)
    for row, impl, call, number, repeats, samples in timed:
        if row["status"] == "ok":
            row.update(summarize(samples, number), host_cpu=impl.runs_on_host_cpu())
            row["gflops"] = workload.flops / row["median_s"] / 1e9 if workload.flops else None
            row["gbps"] = workload.bytes / row["median_s"] / 1e9 if workload.bytes else None
    return rows


def _record_error(row, error):
    """Mark a row skipped (NotAvailable) or failed: a broken op must not stop the others."""
    row.pop("first_call_s", None)
    if isinstance(error, NotAvailable):
        row.update(status="skipped", note=f"not available: {error}")
    else:
        row.update(status="failed", note=f"{type(error).__name__}: {error}")
