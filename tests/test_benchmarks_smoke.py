"""The benchmark suite runs end to end (`python -m benchmarks --quick`) and skips what is missing.

These check that the suite works, never how fast anything is.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # benchmarks/ is a folder of the checkout, not an installed package

from benchmarks import runner  # noqa: E402
from benchmarks.peers import EngineBackend, start_peers  # noqa: E402
from benchmarks.workloads import Workload, _engine  # noqa: E402


def _run_cli(*args):
    return subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_quick_run_writes_table_json_chart_and_compares(tmp_path):
    done = _run_cli("--quick", "--backend", "numpy", "--peers", "numpy",
                    "--workloads", "relu", "dispatch", "--output-dir", str(tmp_path),
                    "--name", "smoke")
    assert done.returncode == 0, done.stderr
    assert "dispatch: add of 8 floats" in done.stdout
    assert "ceilings: BLAS peak" in done.stdout
    run = json.loads((tmp_path / "smoke.json").read_text())
    assert (tmp_path / "smoke.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = {(r["workload"], r["implementation"]): r for r in run["results"]}
    assert set(rows) == {(w, i) for w in ("relu(x*a+b) 4M", "dispatch: add of 8 floats")
                         for i in ("engine:numpy", "numpy")}
    engine_row, peer_row = (rows[("dispatch: add of 8 floats", name)]
                            for name in ("engine:numpy", "numpy"))
    assert engine_row["status"] == peer_row["status"] == "ok"
    assert engine_row["min_s"] <= engine_row["median_s"] <= engine_row["max_s"]
    assert np.isclose(engine_row["vs"]["numpy"], peer_row["median_s"] / engine_row["median_s"])
    assert run["machine"]["cores"] == os.cpu_count()
    assert "OPENBLAS_CORETYPE" in run["machine"]["environment"]

    compared = _run_cli("--compare", str(tmp_path / "smoke.json"), str(tmp_path / "smoke.json"))
    assert compared.returncode == 0, compared.stderr
    assert "+0.0%" in compared.stdout


def test_a_workload_needing_a_missing_op_is_skipped_with_the_reason():
    workload = Workload("needs no_such_op", "test", lambda rng: {},
                        {"engine": lambda impl, d: _engine(impl, "no_such_op")[0]})
    row, = runner.run_workload(workload, [EngineBackend("numpy")], runner.QUICK)
    assert row["status"] == "skipped"
    assert row["note"] == "not available: engine.no_such_op is not defined yet"


def test_inputs_are_fresh_random_numbers_not_zeros():
    from benchmarks.workloads import WORKLOADS

    for workload in WORKLOADS:
        for name, array in workload.make_inputs(np.random.default_rng(0)).items():
            assert np.count_nonzero(array) > 0.5 * array.size, (workload.name, name)


def test_keras_jax_runs_by_default_with_numpy_only_on_the_training_steps(tmp_path):
    done = _run_cli("--quick", "--backend", "numpy", "--workloads", "CNN", "dispatch",
                    "--output-dir", str(tmp_path), "--name", "keras")
    assert done.returncode == 0, done.stderr
    run = json.loads((tmp_path / "keras.json").read_text())
    if "keras-jax" in run["machine"]["not_available"]:
        pytest.skip(run["machine"]["not_available"]["keras-jax"])
    keras_rows = [r for r in run["results"] if r["implementation"] == "keras-jax"]
    assert [r["workload"] for r in keras_rows] == ["CNN train step, batch 64"]
    assert keras_rows[0]["status"] == "ok" and keras_rows[0]["first_call_s"] > 0
    engine_row, = (r for r in run["results"]
                   if r["implementation"] == "engine:numpy" and r["workload"].startswith("CNN"))
    assert np.isclose(engine_row["vs"]["keras-jax"],
                      keras_rows[0]["median_s"] / engine_row["median_s"])
    assert "XLA intra-op pool of" in run["machine"]["implementations"]["keras-jax"]


def test_keras_jax_is_listed_as_not_available_when_keras_cannot_be_imported(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # makes `import keras` raise ImportError
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    started, missing = start_peers(set(), ["keras-jax"])
    assert started == []
    assert missing["keras-jax"].startswith("keras or jax not installed")
    assert "KERAS_BACKEND" not in os.environ  # set only while importing, then restored
