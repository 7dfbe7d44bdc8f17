"""Every test that takes the `backend` fixture runs once per available backend.

ENGINE_BACKEND narrows the run to one backend (`ENGINE_BACKEND=opencl pytest`); unset, the
suite runs on every backend that can start here, and reports the others as skipped with why.
"""
import os

import pytest

import engine
from engine import runtime


def _requested_backends():
    rows = engine.list_backends()
    requested = os.environ.get("ENGINE_BACKEND", "").strip()
    if requested:
        name = runtime.canonical_name(requested)
        rows = [row for row in rows if row["name"] == name]
    return rows


_BACKEND_ROWS = _requested_backends()


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        params = [pytest.param(row["name"], id=row["name"],
                               marks=() if row["available"] else pytest.mark.skip(
                                   reason=f"{row['name']}: {row['reason']}"))
                  for row in _BACKEND_ROWS]
        metafunc.parametrize("backend", params, indirect=True)


@pytest.fixture
def backend(request):
    """The backend name; new tensors in the test are created on it."""
    previous = runtime._state["current"]
    engine.set_backend(request.param)
    yield request.param
    runtime._state["current"] = previous
