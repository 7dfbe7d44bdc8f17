"""Splitting a convolution kernel's batch over every core.

im2col copies and col2im adds are memory-bound NumPy loops that run on one core; BLAS spreads
each GEMM over all cores, but skinny convolution GEMMs scale poorly. Giving each core one share
of the batch, run in cache-sized chunks with single-threaded GEMMs, parallelises both (measured on
2 pinned cores: conv2d forward + both gradients 17 ms -> 10 ms). The calling thread runs the first
share itself: one thread hand-off per call instead of one per chunk (8.0 -> 7.6 ms). While chunks
run, BLAS is held to one thread through threadpoolctl when it is installed (it comes with
scikit-learn); without it chunks still run in parallel, only with less gain.
"""
import contextlib
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

CHUNK_CELLS = 8192  # output cells per chunk: its im2col rows stay in cache
MIN_PARALLEL_MACS = 8_000_000  # smaller GEMM kernels run on the calling thread

_state = {"pool": None, "blas": None}
_lock = threading.Lock()  # one chunked kernel at a time, so BLAS limits never interleave


def _forget_pool_in_forked_child():
    """A forked child has none of the pool's threads; it starts its own on first use."""
    global _lock
    _state["pool"] = None
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_forked_child)


def _workers():
    """Cores this process may run on (fewer than os.cpu_count() under taskset or a CI quota)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def batch_shares(batch, cells_per_image):
    """One list per core of consecutive batch slices, each about CHUNK_CELLS output cells."""
    share = math.ceil(batch / _workers())
    step = max(1, min(CHUNK_CELLS // max(1, cells_per_image), share))
    return [[slice(chunk, min(chunk + step, start + share, batch))
             for chunk in range(start, min(start + share, batch), step)]
            for start in range(0, batch, share)]


def _single_threaded_blas():
    if _state["blas"] is None:
        try:
            from threadpoolctl import ThreadpoolController

            _state["blas"] = ThreadpoolController()
        except ImportError:
            _state["blas"] = False
    if _state["blas"] is False:
        return contextlib.nullcontext()
    return _state["blas"].limit(limits=1, user_api="blas")


def over_batch(work, batch, cells_per_image, macs_per_cell=None):
    """[work(rows) for each batch chunk], the chunks run on every core.

    With `macs_per_cell` given, a call of fewer than MIN_PARALLEL_MACS multiply-adds runs as one
    chunk on this thread, BLAS held to one thread too: its GEMM is too thin for threads to pay
    (MNIST's 28x28x1 into 3x3x8, batch 64: 840 -> 375 us), and OpenBLAS's waiting threads spin:
    with the other core busy, that forward took 0.7 to 24 ms on two BLAS threads, 0.3 on one.
    """
    if macs_per_cell is not None and batch * cells_per_image * macs_per_cell < MIN_PARALLEL_MACS:
        with _lock, _single_threaded_blas():
            return [work(slice(0, batch))]
    def run(share):
        return [work(rows) for rows in share]

    shares = batch_shares(batch, cells_per_image)
    if len(shares) == 1:
        return run(shares[0])
    with _lock, _single_threaded_blas():
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(_workers() - 1, thread_name_prefix="engine-conv")
        others = [_state["pool"].submit(run, share) for share in shares[1:]]
        try:
            mine = run(shares[0])
        finally:
            wait(others)
        return mine + [result for share in others for result in share.result()]
