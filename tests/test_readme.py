"""The README stays true: its coverage table is the generated one, its commands exist."""
import pathlib
import re

from engine.kernels import coverage_table

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_readme_coverage_table_is_generated():
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- coverage:begin -->")[1].split("<!-- coverage:end -->")[0].strip()
    assert table == coverage_table(), \
        "README's op table is stale: run python -m engine.kernels --update-readme README.md"


def test_readme_quick_start_demo_exists():
    text = README.read_text(encoding="utf-8")
    demos = re.findall(r"python (examples/\S+\.py)", text)
    assert demos, "README names no demo"
    for demo in demos:
        assert (README.parent / demo).exists(), f"README names a missing demo: {demo}"
