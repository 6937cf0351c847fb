"""Where a course's files live, and loading a lab's graded test module."""

from __future__ import annotations

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
