"""The NumPy backend's allocator setting: applied on glibc, a user's own setting left alone."""
import os
import platform
import subprocess
import sys

import pytest

_SCRIPT = ("import engine; engine.set_backend('numpy'); "
           "from engine.kernels.numpy import allocator; print(allocator.APPLIED)")


def _applied(extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(extra_env)
    result = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                            text=True, timeout=120, check=True)
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_thresholds_are_set_on_glibc():
    assert _applied({}) == "True"


def test_a_users_malloc_setting_wins():
    assert _applied({"MALLOC_TRIM_THRESHOLD_": "1000000"}) == "False"
