"""pytest support for graded test files: the `nb` fixture and the `--notebook` option.

tests/labs/conftest.py imports both, so `pytest tests/labs/test_lab01_vectors.py` tests
the lab's master, solutions/lab01_vectors.ipynb (in the student edition, the student's
labs/lab01_vectors.ipynb), and `--notebook PATH` any other notebook. As under the
grader, the notebook runs in a sandboxed worker, once per path, and `nb` calls into it;
a test that kills the worker fails, and the next test gets a fresh one.
"""

from __future__ import annotations

import atexit
import functools
import sys
from pathlib import Path

import pytest

from course.grading import remote
from course.grading.notebook import UnusableInput, read_notebook
from course.grading.remote import RemoteNamespace
from course.grading.runner import Limits, session


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--notebook",
        metavar="PATH",
        help="notebook to run the graded tests against (default: the lab's master solution)",
    )


@pytest.fixture
def nb(request: pytest.FixtureRequest) -> RemoteNamespace:
    """The names of the executed notebook under test."""
    chosen = request.config.getoption("notebook", default=None)
    path = Path(chosen) if chosen else master_of(request.path)
    try:
        running = executed(path.resolve(), request.path)
        namespace = running.namespace()
    except UnusableInput as error:
        pytest.fail(str(error), pytrace=False)
    remote.calls.start_test(running.limits.cell, float("inf"))
    return namespace


def master_of(test_file: Path) -> Path:
    """<root>/solutions/labNN_slug.ipynb for <root>/tests/labs/test_labNN_slug.py.

    In the student edition, which has no solutions/, it is the student's labs/labNN_slug.ipynb.
    """
    name = f"{test_file.stem.removeprefix('test_')}.ipynb"
    master = test_file.parents[2] / "solutions" / name
    return master if master.exists() else test_file.parents[2] / "labs" / name


@functools.cache
def executed(path: Path, test_file: Path):
    """A worker that ran `path`, kept for every test of the file; ended at exit."""
    running = session(read_notebook(path), sys.modules[_module_name(test_file)], Limits())
    atexit.register(running.stop)
    return running


def _module_name(test_file: Path) -> str:
    for name, module in list(sys.modules.items()):
        if getattr(module, "__file__", None) and Path(module.__file__).resolve() == test_file:
            return name
    raise UnusableInput(f"{test_file} is not imported")
