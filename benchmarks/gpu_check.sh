#!/usr/bin/env bash
# One run on a GPU machine (no network), from the repository root, within about 3.5 minutes:
# install, device and backend report, the whole test suite on cupy, the GPU benchmarks, and a
# markdown report. Every stage is time-bounded and may fail without stopping the next one.
#   OUT=/some/folder ENGINE_COMMIT=$(git rev-parse HEAD) bash benchmarks/gpu_check.sh
#   (OUT defaults to ./gpu_check_out; ENGINE_COMMIT names the commit where git can't)
# GPU_CHECK_TESTS narrows the test stage (default: the whole suite, "tests").
# Writes five files (a device run returns at most eight): $OUT/report.md, logs.txt (every
# stage's full output), junit.xml, bench.md and stage_status.txt.
set -u
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
PY="$(command -v python || command -v python3)"
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
STATUS="$OUT/stage_status.txt"
: > "$STATUS"
LOGS="$(mktemp -d)"

# stage NAME SECONDS COMMAND...: run with a time limit (SIGINT first, so pytest still writes
# its summary and junit file), log to $LOGS/NAME.log, record the exit code.
stage() {
  local name="$1" limit="$2"
  shift 2
  echo "=== $name (limit ${limit}s): $*"
  local start=$SECONDS
  timeout -s INT -k 15 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  local code=$?
  echo "$name exit=$code seconds=$((SECONDS - start))" | tee -a "$STATUS"
  tail -n 5 "$LOGS/$name.log"
}

# The device's copy of the tree has no git history: pass the commit as ENGINE_COMMIT there.
if [ -n "${ENGINE_COMMIT:-}" ]; then
  stage git 5 echo "$ENGINE_COMMIT"
else
  stage git 20 git log -1 --format='%H %s'
fi
stage nvidia_smi 30 nvidia-smi
stage versions 30 "$PY" -c "import sys, numpy, cupy; print(sys.version); print('numpy', numpy.__version__); print('cupy', cupy.__version__); cupy.show_config()"
stage install 60 "$PY" -m pip install --no-deps --no-build-isolation --no-index -e .

# Without a working editable install (pip may lack `wheel` offline), map engine.backends ->
# backends/ and engine.kernels -> kernels/ (as setup.py does) with a sitecustomize finder.
if ! "$PY" -c "import engine.backends.cupy_backend" > /dev/null 2>&1; then
  FINDER_DIR="$(mktemp -d)"
  cat > "$FINDER_DIR/sitecustomize.py" <<FINDER
import importlib.util
import sys

_FOLDERS = {"engine.backends": "$PWD/backends", "engine.kernels": "$PWD/kernels"}


class _EngineSubpackages:
    @staticmethod
    def find_spec(name, path=None, target=None):
        folder = _FOLDERS.get(name)
        if folder is None:
            return None
        return importlib.util.spec_from_file_location(
            name, folder + "/__init__.py", submodule_search_locations=[folder])


sys.meta_path.insert(0, _EngineSubpackages)
FINDER
  export PYTHONPATH="$FINDER_DIR:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  echo "install fallback: sitecustomize finder in $FINDER_DIR" | tee -a "$STATUS"
fi

stage kernels 60 "$PY" -m engine.kernels
stage backends 60 "$PY" -c "import engine; [print(row) for row in engine.list_backends()]"
# pytest-xdist (on the GPU image) spreads the suite over processes; CuPy's kernel cache is shared.
PARALLEL=()
if "$PY" -c "import xdist" > /dev/null 2>&1; then PARALLEL=(-n 8); fi
ENGINE_BACKEND=cupy stage pytest 110 "$PY" -m pytest -q -rs -p no:cacheprovider "${PARALLEL[@]}" \
  --continue-on-collection-errors --durations=15 --junitxml="$OUT/junit.xml" \
  ${GPU_CHECK_TESTS:-tests}
stage bench 45 "$PY" -m benchmarks.gpu_bench --repeats 10 --out "$OUT/bench.md"

for log in "$LOGS"/*.log; do echo "===== $(basename "$log")"; cat "$log"; done > "$OUT/logs.txt"

"$PY" - "$OUT" "$LOGS" <<'EOF' || echo "report writer failed" | tee -a "$STATUS"
"""Write $OUT/report.md from the stage logs, the junit file and the benchmark table."""
import pathlib
import sys
import xml.etree.ElementTree as ElementTree

out, logs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])


def read(name):
    path = (out if name.endswith((".md", ".txt")) else logs) / name
    return path.read_text(errors="replace").strip() if path.exists() else "(missing)"


lines = ["# GPU check of the cupy backend", "", f"Commit: `{read('git.log')}`", "",
         "## Device", "", "```", read("nvidia_smi.log")[:3000], "```", "",
         "## Backends", "", "```", read("backends.log"), "```", "",
         "## Stages (exit code 124 or 130: hit its time limit)", "", "```", read("stage_status.txt"),
         "```", "", "## Tests (ENGINE_BACKEND=cupy, whole suite)", ""]
junit = out / "junit.xml"
if junit.exists():
    try:
        root = ElementTree.parse(junit).getroot()
        suites = [root] if root.tag == "testsuite" else list(root)
        total = {key: sum(int(s.get(key, 0)) for s in suites)
                 for key in ("tests", "failures", "errors", "skipped")}
        passed = total["tests"] - total["failures"] - total["errors"] - total["skipped"]
        lines.append(f"passed {passed}, failed {total['failures']}, errors {total['errors']}, "
                     f"skipped {total['skipped']}, total {total['tests']}")
        problems = []
        for case in root.iter("testcase"):
            for kind in ("failure", "error"):
                node = case.find(kind)
                if node is not None:
                    message = (node.get("message") or "").splitlines()
                    problems.append(f"- {kind}: {case.get('classname')}::{case.get('name')}: "
                                    f"{message[0][:300] if message else ''}")
        if problems:
            lines += ["", f"### Failures and errors ({len(problems)}, first 80)", ""]
            lines += problems[:80]
    except Exception as error:
        lines.append(f"could not read junit.xml: {error}")
else:
    lines.append("no junit.xml (pytest did not finish writing it)")
lines += ["", "Pytest summary:", "", "```", "\n".join(read("pytest.log").splitlines()[-25:]),
          "```", "", "## Benchmarks (median ms, TF32 off; speed vs peer = torch ms / engine ms)",
          "", read("bench.md"), "", "## Op coverage", "", read("kernels.log")]
(out / "report.md").write_text("\n".join(lines) + "\n")
print(f"wrote {out / 'report.md'}")
EOF
echo "report: $OUT/report.md"
