"""OpenBLAS's idle-thread spin: shortened when engine is imported before NumPy (and OpenBLAS
itself reads the value), left alone after NumPy or when the user set it."""
import os
import subprocess
import sys

from engine import openblas_spin

_REPORT = ("import ctypes, os, engine\n"
           "reads = ''\n"
           "try:\n"
           "    from threadpoolctl import threadpool_info\n"
           "    for lib in threadpool_info():\n"
           "        if lib['internal_api'] == 'openblas':\n"
           "            timeout = getattr(ctypes.CDLL(lib['filepath']),\n"
           "                              'openblas_thread_timeout', None)\n"
           "            reads = timeout() if timeout else ''\n"
           "except ImportError:\n"
           "    pass\n"
           "print(engine.openblas_spin.APPLIED, os.environ.get('OPENBLAS_THREAD_TIMEOUT'), reads)")


def _report(first_import, extra_env):
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    env.update(extra_env)
    result = subprocess.run([sys.executable, "-c", first_import + "\n" + _REPORT], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    return result.stdout.split()


def test_engine_imported_first_shortens_the_spin():
    applied, value, *read = _report("", {})
    assert (applied, value) == ("True", openblas_spin.SPIN_CYCLES_LOG2)
    assert read in ([], [openblas_spin.SPIN_CYCLES_LOG2])  # what OpenBLAS took, if it says


def test_after_numpy_nothing_is_set():
    assert _report("import numpy", {})[:2] == ["False", "None"]


def test_a_users_setting_wins():
    assert _report("", {"OPENBLAS_THREAD_TIMEOUT": "8"})[:2] == ["False", "8"]
