"""Where a course's files live, and loading a lab's graded test module."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from course.grading.notebook import UnusableInput

#: The repository: the folder that holds the `course` package.
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layout:
    """A course tree: solutions/ (masters), labs/ (generated) and tests/labs/ (graded tests)."""

    root: Path

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def labs(self) -> Path:
        return self.root / "labs"

    @property
    def tests(self) -> Path:
        return self.root / "tests" / "labs"


def tests_dir() -> Path:
    """The graded tests of this course: $COURSE_TESTS_DIR, else tests/labs in the repository."""
    override = os.environ.get("COURSE_TESTS_DIR")
    return Path(override) if override else Layout(REPO_ROOT).tests


def find_tests(lab: str, directory: Path | None = None) -> Path:
    """The one file test_labNN_*.py of `lab` in `directory`, or UnusableInput."""
    directory = tests_dir() if directory is None else directory
    found = sorted(directory.glob(f"test_lab{lab}_*.py"))
    if len(found) != 1:
        problem = "no graded tests" if not found else f"{len(found)} test files"
        raise UnusableInput(f"{problem} for lab {lab}: expected one {directory}/test_lab{lab}_*.py")
    return found[0]


def load_tests(path: Path) -> ModuleType:
    """Import a graded test file by path (it need not be on sys.path)."""
    name = f"graded_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look modules up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@dataclass(frozen=True)
class Declared:
    """What a graded test file declares for its worker: COURSE_MODULES and CELL_SECONDS."""

    modules: tuple[str, ...] = ()
    cell_seconds: float | None = None


def read_declarations(path: Path) -> Declared:
    """A test file's COURSE_MODULES and CELL_SECONDS, read from its syntax tree.

    The grader starts the worker with them before it imports the file, so the notebook
    runs while the tests and their references (torch, say) load in the grader.
    COURSE_MODULES is a tuple of paths under course/ and of `*GROUP`s from
    course.grading.visible; CELL_SECONDS is a positive number.
    """
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as error:
        raise UnusableInput(f"cannot load {path}: {type(error).__name__}: {error}") from None
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in ("COURSE_MODULES", "CELL_SECONDS"):
            found[target.id] = value
    modules = _module_paths(found["COURSE_MODULES"], path) if "COURSE_MODULES" in found else ()
    seconds = _seconds(found["CELL_SECONDS"], path) if "CELL_SECONDS" in found else None
    return Declared(modules, seconds)


def _module_paths(value: ast.expr, path: Path) -> tuple[str, ...]:
    from course.grading import visible

    groups = {name: group for name, group in vars(visible).items() if name.isupper()}
    items = value.elts if isinstance(value, ast.Tuple | ast.List) else [ast.Starred(value)]
    paths: list[str] = []
    for item in items:
        if isinstance(item, ast.Constant) and isinstance(item.value, str):
            paths.append(item.value)
        elif (
            isinstance(item, ast.Starred)
            and isinstance(item.value, ast.Name)
            and item.value.id in groups
        ):
            paths.extend(groups[item.value.id])
        else:
            raise UnusableInput(
                f"{path}: COURSE_MODULES must be a tuple of paths and of *GROUPs from "
                "course.grading.visible"
            )
    return tuple(paths)


def _seconds(value: ast.expr, path: Path) -> float:
    number = value.value if isinstance(value, ast.Constant) else None
    if isinstance(number, bool) or not isinstance(number, int | float) or number <= 0:
        raise UnusableInput(f"{path}: CELL_SECONDS must be a positive number")
    return float(number)
