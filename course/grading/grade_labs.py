"""Grade several lab notebooks and summarise: `python -m course.grading.grade_labs labs/*.ipynb`.

For each notebook it writes OUT/labNN/results.json (Gradescope) and OUT/labNN/junit.xml,
then prints one line per lab and writes the same table as OUT/summary.md (Markdown, for
a CI job summary). A notebook that cannot be graded gets a line that says why. Exit 0
once every lab was tried, 2 when no notebook was given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.grading import report
from course.grading.labs import find_tests
from course.grading.notebook import UnusableInput, read_notebook
from course.grading.results import Grading
from course.grading.runner import grade


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m course.grading.grade_labs", description=__doc__)
    cli.add_argument("notebooks", type=Path, nargs="*", help="lab notebooks to grade")
    cli.add_argument("--out", type=Path, default=Path("grades"), help="folder for the reports")
    options = cli.parse_args(argv)
    if not options.notebooks:
        print("grade_labs: no notebooks given (e.g. labs/lab*.ipynb)", file=sys.stderr)
        return 2
    rows = [grade_one(path, options.out) for path in sorted(options.notebooks)]
    table = summary(rows)
    print(table)
    options.out.mkdir(parents=True, exist_ok=True)
    (options.out / "summary.md").write_text(table + "\n", encoding="utf-8")
    return 0


def grade_one(path: Path, out: Path) -> tuple[str, str, str]:
    """(notebook, score, note) for the summary; the reports go under `out`."""
    try:
        notebook = read_notebook(path)
        if notebook.lab is None:
            raise UnusableInput(f"cannot tell which lab {path} is")
        grading = grade(notebook, find_tests(notebook.lab))
    except UnusableInput as error:
        return (path.name, "not graded", str(error))
    folder = out / f"lab{grading.lab}"
    report.write_json(grading, folder / "results.json")
    report.write_junit(grading, folder / "junit.xml")
    score = f"{report.points(grading.score)}/{report.points(grading.max_score)}"
    return (path.name, f"{score} ({report.percent(grading)})", _first_problem(grading))


def summary(rows: list[tuple[str, str, str]]) -> str:
    lines = ["| Lab | Score | First problem |", "| --- | --- | --- |"]
    lines += [f"| {name} | {score} | {note.replace('|', '/')} |" for name, score, note in rows]
    return "\n".join(lines)


def _first_problem(grading: Grading) -> str:
    failing = [mark for mark in grading.marks if not mark.passed]
    if not failing:
        return ""
    first = failing[0]
    return report.truncate(f"{first.test.name}: {' '.join(first.message.split())}", 120)


if __name__ == "__main__":
    raise SystemExit(main())
