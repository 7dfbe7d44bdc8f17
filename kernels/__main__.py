"""`python -m engine.kernels`: print the op x backend coverage table.

`python -m engine.kernels --update-readme README.md` rewrites the table between the README's
coverage markers, so the README's table is generated, never hand-written.
"""
import argparse
import pathlib

from engine.kernels import coverage_table

BEGIN, END = "<!-- coverage:begin -->", "<!-- coverage:end -->"


def update_readme(path):
    text = pathlib.Path(path).read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    pathlib.Path(path).write_text(f"{head}{BEGIN}\n{coverage_table()}\n{END}{tail}",
                                  encoding="utf-8")


parser = argparse.ArgumentParser(prog="python -m engine.kernels", description=__doc__)
parser.add_argument("--update-readme", metavar="README", help="rewrite the README's table")
arguments = parser.parse_args()
if arguments.update_readme:
    update_readme(arguments.update_readme)
else:
    print(coverage_table())
