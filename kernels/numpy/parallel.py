"""Splitting a convolution kernel's batch, or a stack of GEMMs, over every core.

im2col copies and col2im adds are memory-bound NumPy loops that run on one core; BLAS spreads
each GEMM over all cores, but skinny convolution GEMMs scale poorly. Running the batch in chunks
on every core, each chunk with single-threaded GEMMs, parallelises both (measured on 2 pinned
cores: conv2d forward + both gradients 17 ms -> 10 ms). The calling thread works too: one thread
hand-off per call and core, not per chunk (8.0 -> 7.6 ms). Each thread takes the next chunk as it
finishes one, so a core slowed by other work does fewer of them. Chunks are large (fewer NumPy
calls, fewer GIL hand-offs) and come in whole rounds over the cores, so that none waits on a
last, lone chunk. While chunks run, BLAS is held to one thread through threadpoolctl when it is
installed (it comes with scikit-learn); without it chunks still run in parallel, only with less
gain. Handing work to the other thread costs ~80 us on these machines: only work well above
that is split.
"""
import contextlib
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

# Most output cells a chunk: conv2d forward + both gradients of 32x32x16 -> 3x3x32, batch 32,
# 2 cores, medians of 6 interleaved runs: 4096 (8 chunks) 6.30 ms, 8192 (4) 5.89, 16384 (2) 5.61.
CHUNK_CELLS = 16384
MIN_PARALLEL_MACS = 8_000_000  # smaller GEMM kernels run on the calling thread

_state = {"pool": None, "blas": None}
_lock = threading.Lock()  # one chunked kernel at a time, so BLAS limits never interleave
_chunk_thread = threading.local()  # .running: this thread is running a chunk


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


def batch_chunks(batch, cells_per_image):
    """Consecutive batch slices of at most CHUNK_CELLS output cells (at least one image), as
    many as whole rounds over the cores take and within an image of each other in size: every
    core gets as much work (batch 64 of 26x26 cells on 2 cores: 4 chunks of 16 images, not 24,
    24 and 16)."""
    most = max(1, CHUNK_CELLS // max(1, cells_per_image))
    count = min(batch, -(-batch // (most * _workers())) * _workers())
    bounds = [batch * i // count for i in range(count + 1)] if count else []
    return [slice(start, stop) for start, stop in zip(bounds, bounds[1:])]


def _blas_libraries():
    """threadpoolctl's handles on the loaded BLAS libraries, found once ([] without it)."""
    if _state["blas"] is None:
        try:
            from threadpoolctl import ThreadpoolController

            _state["blas"] = ThreadpoolController().select(user_api="blas").lib_controllers
        except ImportError:
            _state["blas"] = []
    return _state["blas"]


@contextlib.contextmanager
def _single_threaded_blas():
    """BLAS held to one thread, through each library's own setter: threadpoolctl's limit()
    took 7 us and made the next GEMM ~10 us slower, twice per step of the demo CNN."""
    libraries = _blas_libraries()
    threads = [library.get_num_threads() for library in libraries]
    for library in libraries:
        library.set_num_threads(1)
    try:
        yield
    finally:
        for library, count in zip(libraries, threads):
            library.set_num_threads(count)


def over_batch(work, batch, cells_per_image, macs_per_cell=None):
    """[work(rows) for each batch chunk], the chunks run on every core.

    With `macs_per_cell` given, a call of fewer than MIN_PARALLEL_MACS multiply-adds runs as one
    chunk on this thread, BLAS held to one thread too: its GEMM is too thin for threads to pay
    (MNIST's 28x28x1 into 3x3x8, batch 64: 840 -> 375 us), and OpenBLAS's waiting threads spin:
    with the other core busy, that forward took 0.7 to 24 ms on two BLAS threads, 0.3 on one.
    """
    if macs_per_cell is not None and batch * cells_per_image * macs_per_cell < MIN_PARALLEL_MACS:
        if getattr(_chunk_thread, "running", False):
            return [work(slice(0, batch))]
        with _lock, _single_threaded_blas():
            return [_as_chunk(work)(slice(0, batch))]

    return _on_every_core(work, batch_chunks(batch, cells_per_image))


def _as_chunk(work):
    """`work`, marked on the thread that runs it as a chunk: a kernel it calls that splits its
    own work runs that work right there (waiting for the pool or the lock would deadlock)."""
    def chunk(rows):
        _chunk_thread.running = True
        try:
            return work(rows)
        finally:
            _chunk_thread.running = False
    return chunk


def over_cores(work, count):
    """[work(rows)] for `count` rows cut into one slice per core, the slices run side by side
    with BLAS on one thread (a stack of GEMMs that BLAS would run one after another)."""
    step = max(1, -(-count // _workers()))
    return _on_every_core(work, [slice(start, min(start + step, count))
                                 for start in range(0, count, step)])


def _on_every_core(work, chunks):
    """[work(rows) for rows in chunks], every core taking the next chunk as it ends one."""
    if len(chunks) == 1 or _workers() == 1 or getattr(_chunk_thread, "running", False):
        return [work(rows) for rows in chunks]
    results = [None] * len(chunks)
    turns = itertools.count()  # its next() is atomic: each chunk goes to one thread
    chunk = _as_chunk(work)

    def take_turns():
        index = next(turns)
        while index < len(chunks):
            results[index] = chunk(chunks[index])
            index = next(turns)

    with _lock, _single_threaded_blas():
        if _state["pool"] is None:
            _state["pool"] = ThreadPoolExecutor(_workers() - 1, thread_name_prefix="engine-kernels")
        others = [_state["pool"].submit(take_turns) for _ in range(_workers() - 1)]
        try:
            take_turns()
        finally:  # each exception() waits for its thread (concurrent.futures.wait: ~50 us more)
            errors = [other.exception() for other in others]
        for error in filter(None, errors):
            raise error  # a chunk's error
    return results
