"""OpenBLAS's idle worker threads told to spin for ~1 ms instead of ~0.1 s: set before NumPy
loads OpenBLAS, so this module is imported first and imports nothing heavy.

After each multi-threaded BLAS call OpenBLAS's workers spin, waiting for the next one, for
2**28 cycles by default. The NumPy backend runs large convolutions in batch chunks on Python
threads (kernels/numpy/parallel.py), and a spinning BLAS worker takes a core from them: a
training step of two 3x3 convolutions (32x32, 16 -> 32 -> 32 channels, batch 32) took 38 ms
when a bias gradient's or a Dense layer's BLAS call came just before its convolutions, 24 ms
with the spin cut to 2**22 cycles. That is still long enough for the back-to-back BLAS calls of
a training step to find the workers awake (the MLP benchmark's step is unchanged; at 2**20 it
was 8% slower). OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, when it is loaded: this applies
only when engine is imported before NumPy, and never overrides a value the user set.
"""
import os
import sys

SPIN_CYCLES_LOG2 = "22"


def shorten_spin():
    """Set OPENBLAS_THREAD_TIMEOUT unless NumPy is loaded or it is set; True when set here."""
    if "numpy" in sys.modules or "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        return False
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = SPIN_CYCLES_LOG2
    return True


APPLIED = shorten_spin()
