"""Grade a whole class: `python -m course.grading.classroom SUBMISSIONS --out grades -j 4`.

SUBMISSIONS holds one folder per student with their notebooks, DIR/STUDENT/labNN_*.ipynb.
Every notebook is graded in a grading process of its own (its worker in a sandbox of
its own), up to `-j` at a time (default: the number of cores), with the instructor's
tests, hidden ones included. Written under OUT:

    OUT/STUDENT/labNN.json      Gradescope-format results of one lab
    OUT/STUDENT/results.json    that student's labs: score and maximum of each
    OUT/gradebook.csv           student, lab, score, max, then points per question

Nothing a notebook does reaches another student's result: each grading runs apart,
and only this process writes the reports. Exit 0 once every notebook was tried, 2
with one line when SUBMISSIONS is not a folder of student folders.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import json
import multiprocessing
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from course.grading import report
from course.grading.labs import find_tests
from course.grading.notebook import UnusableInput, lab_from_name, read_notebook
from course.grading.runner import grade

_STUDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")


@dataclass(frozen=True)
class Submission:
    student: str
    lab: str
    path: Path


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m course.grading.classroom", description=__doc__)
    cli.add_argument("submissions", type=Path, help="folder of student folders")
    cli.add_argument("--out", type=Path, default=Path("grades"), help="folder for the reports")
    cli.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, help="in parallel")
    options = cli.parse_args(argv)
    try:
        submissions, skipped = find_submissions(options.submissions)
    except UnusableInput as error:
        print(f"classroom: {error}", file=sys.stderr)
        return 2
    for line in skipped:
        print(f"skipped: {line}", file=sys.stderr)
    rows = grade_all(submissions, options.out, max(options.jobs, 1))
    write_gradebook(rows, options.out / "gradebook.csv")
    print(f"graded {len(rows)} notebook(s) of {len({s.student for s in submissions})} "
          f"student(s); gradebook: {options.out / 'gradebook.csv'}")  # fmt: skip
    return 0


def find_submissions(folder: Path) -> tuple[list[Submission], list[str]]:
    """Every DIR/STUDENT/labNN_*.ipynb, and a line for each thing that is not one."""
    if not folder.is_dir():
        raise UnusableInput(f"{folder} is not a folder of student folders")
    found, skipped = [], []
    for student in sorted(folder.iterdir()):
        if not student.is_dir() or student.is_symlink():
            skipped.append(f"{student.name}: not a student folder")
            continue
        if not _STUDENT.fullmatch(student.name):
            skipped.append(
                f"{student.name!r}: a student folder's name must be letters, digits, ._@-"
            )
            continue
        for notebook in sorted(student.glob("lab*.ipynb")):
            lab = lab_from_name(notebook)
            if lab is None or notebook.is_symlink() or not notebook.is_file():
                skipped.append(f"{student.name}/{notebook.name}: not a lab notebook file")
                continue
            found.append(Submission(student.name, lab, notebook))
    if not found:
        raise UnusableInput(f"{folder} holds no STUDENT/labNN_*.ipynb notebooks")
    return found, skipped


def grade_all(submissions: list[Submission], out: Path, jobs: int) -> list[dict[str, Any]]:
    """Grade every submission in its own process; write the per-student reports."""
    context = multiprocessing.get_context("spawn")  # nothing of this process is shared
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        results = list(pool.map(_grade_one, submissions))
    by_student: dict[str, dict[str, Any]] = {}
    rows = []
    for submission, (row, results_json) in zip(submissions, results, strict=True):
        folder = out / submission.student
        if results_json is not None:
            report.write_text(folder / f"lab{submission.lab}.json", results_json)
        by_student.setdefault(submission.student, {})[submission.lab] = {
            key: row[key] for key in ("score", "max_score", "note")
        }
        rows.append(row)
    for student, labs in by_student.items():
        text = json.dumps({"student": student, "labs": labs}, indent=2) + "\n"
        report.write_text(out / student / "results.json", text)
    return rows


def _grade_one(submission: Submission) -> tuple[dict[str, Any], str | None]:
    """(gradebook row, results.json text) of one notebook, in a process of its own."""
    row: dict[str, Any] = {"student": submission.student, "lab": submission.lab}
    try:
        notebook = read_notebook(submission.path)
        grading = grade(notebook, find_tests(submission.lab))
    except UnusableInput as error:
        return {**row, "score": 0, "max_score": "", "note": str(error), "questions": {}}, None
    questions = {
        question: sum(mark.score for mark in marks)
        for question, marks in grading.by_question().items()
    }
    row |= {"score": grading.score, "max_score": grading.max_score, "questions": questions}
    row["note"] = grading.sandbox
    return row, json.dumps(report.gradescope(grading), indent=2, ensure_ascii=False) + "\n"


def write_gradebook(rows: list[dict[str, Any]], path: Path) -> None:
    """One row per notebook: student, lab, score, max, then the points of each question."""
    questions = sorted({q for row in rows for q in row["questions"]}, key=_question_order)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", "lab", "score", "max_score", *questions, "note"])
        for row in rows:
            got = [_number(row["questions"].get(q, "")) for q in questions]
            score, worth = _number(row["score"]), _number(row["max_score"])
            writer.writerow([row["student"], row["lab"], score, worth, *got, row["note"]])


def _number(value: Any) -> str:
    return report.points(value) if isinstance(value, int | float) else str(value)


def _question_order(name: str) -> tuple[int, str]:
    match = re.fullmatch(r"q(\d+)", name)
    return (int(match[1]), name) if match else (10**6, name)


if __name__ == "__main__":
    raise SystemExit(main())
