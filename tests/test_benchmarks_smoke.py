"""The benchmark suite runs end to end (`python -m benchmarks --quick`) and skips what is missing.

These check that the suite works, never how fast anything is.
"""
import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # benchmarks/ is a folder of the checkout, not an installed package

from benchmarks import runner  # noqa: E402
from benchmarks.peers import EngineBackend  # noqa: E402
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
