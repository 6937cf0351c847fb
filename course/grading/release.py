"""Write the student edition of the course: `python -m course.grading.release DEST`.

The edition is this repository's files (those git tracks, else every file that is not
a build output) without what only instructors may see:

- solutions/ (the master notebooks) and the planted bugs tests/labs/mutants_*.py;
- the hidden tests: every `@question(..., hidden=True)` function is cut out of
  tests/labs/test_*.py, so `check()` and the student's grader run the public ones;
- the course's own tests (tests/test_*.py and their fixtures), which need solutions/.

It ships the student's own README.md and Makefile (from course/grading/student_edition/:
doing a lab, check(), grading, hidden tests, CI; no targets that need solutions/) and
the student's CI workflow (.github/workflows/grade.yml, which grades every lab on push).
Each public test file records ALL_POINTS, its lab's points hidden tests included, so the
student's grader can say how many it cannot check. The instructor's grader, in this
repository, keeps running the hidden tests.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

from course.grading.generate import question_points
from course.grading.labs import REPO_ROOT

TEMPLATE = Path(__file__).with_name("student_edition")
WORKFLOW = ".github/workflows/grade.yml"
LEFT_OUT = (
    re.compile(r"^solutions/"),
    re.compile(r"^tests/labs/mutants_[^/]*\.py$"),
    re.compile(r"^tests/(?!labs/)"),  # the course's own tests and their fixtures
    re.compile(r"^\.github/workflows/"),  # the instructor's CI (publishing the book)
    re.compile(r"^\.ci/"),  # the instructor's CI entry point (browser tests of the course)
)
NOT_SOURCE = {".git", ".venv", "_build", "_vendor", "node_modules", "grades", "__pycache__"}
FROM_TEMPLATE = {"README.md": "README.md", "Makefile": "Makefile", WORKFLOW: "grade.yml"}


def release(source: Path, dest: Path) -> list[Path]:
    """Write the student edition of the course at `source` into `dest`; the files written."""
    source, dest = source.resolve(), dest.resolve()
    if dest == source or source in dest.parents:
        raise ValueError(f"the edition must go outside the course, not into {dest}")
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} exists and is not empty: choose a new folder")
    written = []
    for relative in course_files(source):
        if any(pattern.search(relative) for pattern in LEFT_OUT) or relative in FROM_TEMPLATE:
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if relative.startswith("tests/labs/test_") and relative.endswith(".py"):
            target.write_text(public_tests((source / relative).read_text(encoding="utf-8")))
        else:
            shutil.copy2(source / relative, target)
        written.append(target)
    for relative, template in FROM_TEMPLATE.items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(TEMPLATE / template, target)
        written.append(target)
    return written


def course_files(root: Path) -> list[str]:
    """Paths (relative, with /) of the course's files: git's list, else a walk."""
    try:
        command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
        listed = subprocess.run(command, cwd=root, capture_output=True, check=True).stdout
        files = [name for name in listed.decode().split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = [
            path.relative_to(root).as_posix()
            for path in root.rglob("*")
            if path.is_file() and not NOT_SOURCE & set(path.relative_to(root).parts)
        ]
    return sorted(name for name in files if (root / name).is_file())


def public_tests(source: str) -> str:
    """A graded test file's text without its hidden tests, plus its lab's ALL_POINTS."""
    lines = source.splitlines(keepends=True)
    cut: list[tuple[int, int]] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_hidden(node):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            cut.append((first - 1, node.end_lineno or node.lineno))
    for start, end in reversed(cut):
        del lines[start:end]
    text = re.sub(r"\n{4,}", "\n\n\n", "".join(lines)).rstrip("\n")
    total = sum(public + hidden for public, hidden in question_points(source).values())
    note = "# The lab's points, hidden tests included (they are not in this edition)."
    return f"{text}\n\n\n{note}\nALL_POINTS = {total:g}\n"


def _is_hidden(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in node.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "hidden" and not (
                    isinstance(keyword.value, ast.Constant) and not keyword.value.value
                ):
                    return True
    return False


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m course.grading.release", description=__doc__)
    cli.add_argument("dest", type=Path, help="a new, empty folder for the student edition")
    options = cli.parse_args(argv)
    try:
        written = release(REPO_ROOT, options.dest)
    except ValueError as error:
        print(f"release: {error}", file=sys.stderr)
        return 2
    print(f"wrote the student edition ({len(written)} files) to {options.dest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
