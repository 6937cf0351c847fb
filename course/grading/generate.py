"""Write each student lab, labs/labNN_slug.ipynb, from its master solutions/labNN_slug.ipynb.

In code cells, every block from `### BEGIN SOLUTION` to `### END SOLUTION` becomes one
`raise NotImplementedError(...)` line at the block's indentation, after the block's
`### HINT:` lines turned into `# Hint:` comments. Each heading "## Question N: ... (P
points)" says how many of its points `check()` can test and how many only the hidden
tests, counted from the lab's graded tests (P must be their total). Outputs, execution
counts and metadata are dropped or normalised so that the same master always gives the
same bytes.

Each lab records in its metadata (course.cells_sha256) a hash of the cells it was
written with. A lab whose cells no longer match that hash holds someone's work: it is
kept, and said so, unless --force.

    python -m course.grading.generate            write labs/ (keeping edited ones)
    python -m course.grading.generate --force    write labs/, edited ones too
    python -m course.grading.generate --check    exit 1 when labs/ is out of date
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from course.grading.labs import REPO_ROOT, Layout, find_tests
from course.grading.notebook import UnusableInput, lab_from_name

BEGIN = re.compile(r"^(?P<indent>\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
HINT = re.compile(r"^\s*### HINT:\s?(?P<text>.*)$")
STUB = 'raise NotImplementedError("not implemented yet: replace this line with your code")'
CELL_METADATA = ("tags",)  # the only cell metadata a student lab keeps
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
HEADING = re.compile(
    r"^(?P<start>#+ Question (?P<n>\d+):.*?)\((?P<points>[\d.]+) points?\)[ \t]*$", re.M
)

Points = dict[str, tuple[float, float]]  # question -> (public points, hidden points)


def question_points(tests_source: str) -> Points:
    """Public and hidden points of each question, read from a test file's `@question`s."""
    points: dict[str, list[float]] = {}
    for node in ast.walk(ast.parse(tests_source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "id", "") == "question":
                name = ast.literal_eval(decorator.args[0])
                options = {k.arg: ast.literal_eval(k.value) for k in decorator.keywords}
                public_hidden = points.setdefault(name, [0.0, 0.0])
                public_hidden[bool(options.get("hidden", False))] += options.get("points", 1)
    return {name: (public, hidden) for name, (public, hidden) in points.items()}


def split_points(source: str, points: Points) -> str:
    """`source` with each "(P points)" of a question heading split into public and hidden."""

    def split(match: re.Match[str]) -> str:
        question, stated = f"q{match['n']}", float(match["points"])
        public, hidden = points.get(question, (0.0, 0.0))
        if public + hidden != stated:
            raise ValueError(
                f"Question {match['n']} is worth {stated:g} points in its heading, "
                f"but its tests give {public + hidden:g}"
            )
        worth = f"{stated:g} point" + ("" if stated == 1 else "s")
        if not hidden:
            return f"{match['start']}({worth}, all checked by `check()`)"
        shares = f"{public:g} checked by `check()`, {hidden:g} by hidden tests"
        return f"{match['start']}({worth}: {shares})"

    return HEADING.sub(split, source)


def strip_solutions(source: str) -> str:
    """`source` with each solution block replaced by its hints and a stub that raises."""
    kept: list[str] = []
    block: tuple[str, list[str]] | None = None  # (indent, hints) inside a block
    for number, line in enumerate(source.split("\n"), 1):
        if begin := BEGIN.match(line):
            if block is not None:
                raise ValueError(f"line {number}: BEGIN SOLUTION inside another solution block")
            block = (begin["indent"], [])
        elif END.match(line):
            if block is None:
                raise ValueError(f"line {number}: END SOLUTION without a BEGIN SOLUTION")
            indent, hints = block
            kept += [f"{indent}# Hint: {hint}" for hint in hints] + [indent + STUB]
            block = None
        elif block is None:
            kept.append(line)
        elif hint := HINT.match(line):
            block[1].append(hint["text"])
    if block is not None:
        raise ValueError("BEGIN SOLUTION without an END SOLUTION")
    return "\n".join(kept)


def student_notebook(
    master: dict[str, Any], lab: str, points: Points | None = None
) -> dict[str, Any]:
    """The student version of a master notebook (parsed JSON) of lab `lab`.

    With `points`, question headings say how many points are public and how many hidden.
    """
    cells = []
    for index, cell in enumerate(master["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        metadata = {k: v for k, v in cell.get("metadata", {}).items() if k in CELL_METADATA}
        new: dict[str, Any] = {"cell_type": cell["cell_type"], "id": f"cell-{index:02d}"}
        if cell["cell_type"] == "code":
            try:
                source = strip_solutions(source)
            except ValueError as error:
                raise ValueError(f"cell {index + 1}: {error}") from None
            new |= {"execution_count": None, "outputs": []}
        else:
            if points is not None and cell["cell_type"] == "markdown":
                source = split_points(source, points)
            if "attachments" in cell:
                new["attachments"] = cell["attachments"]
        cells.append(new | {"metadata": metadata, "source": source.splitlines(keepends=True)})
    metadata = {
        "course": {"lab": lab, "cells_sha256": cells_hash(cells)},
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
    }
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def cells_hash(cells: list[dict[str, Any]]) -> str:
    """A hash of the cells' kinds and sources: what a student edits, not outputs or format."""
    content = [
        [cell.get("cell_type"), "".join(cell.get("source", "")) if isinstance(cell, dict) else ""]
        for cell in cells
    ]
    return hashlib.sha256(json.dumps(content).encode("utf-8")).hexdigest()


def edited(path: Path) -> bool:
    """Whether the lab at `path` differs from what the generator wrote there last.

    A lab without a readable hash (not a notebook, or written before hashes) counts as
    edited: when in doubt, keep it.
    """
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        recorded = notebook["metadata"]["course"]["cells_sha256"]
        return recorded != cells_hash(notebook["cells"])
    except (OSError, ValueError, KeyError, TypeError):
        return True


def render(notebook: dict[str, Any]) -> str:
    """The exact text written to disk: stable key order, one-space indent, final newline."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def planned_labs(layout: Layout) -> dict[Path, str]:
    """Each student lab path, with the text it should have, from the masters in `layout`."""
    planned = {}
    for master in sorted(layout.solutions.glob("lab*.ipynb")):
        lab = lab_from_name(master)
        if lab is None:
            raise ValueError(f"{master}: a master's name must start with labNN_")
        try:
            points = _points_of(lab, layout)
            student = student_notebook(json.loads(master.read_text(encoding="utf-8")), lab, points)
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{_shown(master)}: {error}") from None
        if not any(STUB in "".join(cell["source"]) for cell in student["cells"]):
            raise ValueError(f"{_shown(master)} has no ### BEGIN SOLUTION block to hand out")
        planned[layout.labs / master.name] = render(student)
    return planned


def problems(layout: Layout) -> list[str]:
    """What is wrong with labs/: missing, out of date, or without a master. Empty: in sync."""
    planned = planned_labs(layout)
    found = []
    for path, text in planned.items():
        if not path.exists():
            found.append(f"{_shown(path)} is missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"{_shown(path)} is out of date with its master")
    for path in sorted(layout.labs.glob("lab*.ipynb")):
        if path not in planned:
            found.append(f"{_shown(path)} has no master {_shown(layout.solutions / path.name)}")
    return found


def write_labs(layout: Layout, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Write every student lab that differs from its master: (written, kept as edited).

    A lab that was edited since it was generated is kept unless `force`.
    """
    written, kept = [], []
    for path, text in planned_labs(layout).items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        if path.exists() and edited(path) and not force:
            kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written, kept


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m course.grading.generate", description=__doc__)
    cli.add_argument("--check", action="store_true", help="only report labs out of date")
    cli.add_argument("--force", action="store_true", help="overwrite edited labs too")
    cli.add_argument("--root", type=Path, default=REPO_ROOT, help="course tree (default: repo)")
    options = cli.parse_args(argv)
    layout = Layout(options.root)
    try:
        kept: list[Path] = []
        if not options.check:
            written, kept = write_labs(layout, force=options.force)
            for path in written:
                print(f"wrote {_shown(path)}")
            for path in kept:
                print(
                    f"kept {_shown(path)}: it was edited since it was generated "
                    "(make labs FORCE=1, or --force, overwrites it)",
                    file=sys.stderr,
                )
            if kept:
                return 1
        found = problems(layout)
    except (ValueError, OSError) as error:
        print(f"generate: {error}", file=sys.stderr)
        return 2
    for problem in found:
        print(problem, file=sys.stderr)
    if found and options.check:
        print("Run `make labs` (python -m course.grading.generate) to regenerate.", file=sys.stderr)
    return 1 if found else 0


def _points_of(lab: str, layout: Layout) -> Points | None:
    """The question points of `lab` from its graded tests; None when it has none yet."""
    try:
        return question_points(find_tests(lab, layout.tests).read_text(encoding="utf-8"))
    except UnusableInput:
        return None


def _shown(path: Path) -> str:
    """`path` relative to the working folder when it is inside it."""
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


if __name__ == "__main__":
    sys.exit(main())
