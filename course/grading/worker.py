"""The grading worker: runs a notebook's cells, then its graded tests, in a process of its own.

`runner.py` starts it as `python -P -m course.grading.worker` in the notebook's folder
and writes its job (JSON) on stdin. Stdout and stderr belong to the student's code; the
worker reports to the parent only through a dedicated pipe, one JSON object a line,
each carrying the job's secret "token" (the parent ignores lines without it):

    {"event": "tests", "tests": [{"name", "question", "points", "hidden"}, ...]}
    {"event": "cell", "number": 4}       ... {"event": "cell_done", "number": 4, "error": ""}
    {"event": "test", "name": "test_x"}  ... {"event": "test_done", "name": "test_x",
                                               "passed": false, "message": "...", "seconds": 0.1}
    {"event": "done"}

The list of tests goes out before any student code runs, so the parent can trust it.
Before the notebook runs, the worker limits its own memory (RLIMIT_DATA) and copies the
state of the modules the tests use (see pristine.py); it puts that state back after each
cell and before each test, so a cell that patches builtins, numpy or the grader
changes nothing the tests see. If the process dies, the last "cell" or "test" without
its "_done" tells the parent where, and it starts a new worker that skips that cell or
that test.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from course.grading.execute import new_namespace, run_cell
from course.grading.labs import load_tests
from course.grading.namespace import Namespace, unfinished_cells_note
from course.grading.outcomes import explain, time_limit
from course.grading.pristine import snapshot
from course.grading.questions import collect_tests


class Channel:
    """The write end of the progress pipe. Unbuffered: a message sent survives a crash."""

    def __init__(self, fd: int, token: str) -> None:
        os.set_inheritable(fd, False)  # not passed on to programs the notebook starts
        self.fd = fd
        self.token = token

    def send(self, event: str, **fields: Any) -> None:
        data = (json.dumps({"event": event, **fields, "token": self.token}) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]


def main() -> NoReturn:
    job = json.loads(sys.stdin.read())
    sys.stdin = open(os.devnull)  # noqa: SIM115  (input() in a cell gets EOF, not the job)
    os.dup2(sys.stdin.fileno(), 0)
    channel = Channel(job["channel"], job["token"])
    _limit_memory(job["memory"])
    try:
        module = load_tests(Path(job["tests"]))
        tests = collect_tests(module)
    except BaseException as error:
        channel.send("broken_tests", message=f"{type(error).__name__}: {error}")
        _exit()
    channel.send("tests", tests=[asdict(graded) for graded, _ in tests])
    plan = tuple((graded.name, test) for graded, test in tests if graded.name not in job["graded"])
    seconds = float(job["seconds"])

    sys.path.insert(0, os.getcwd())  # like Jupyter: modules next to the notebook import
    main_module = new_namespace()
    sys.modules["__main__"] = main_module  # pickle and multiprocessing find cell functions
    namespace = main_module.__dict__
    with warnings.catch_warnings():  # reading every module may touch deprecated names
        warnings.simplefilter("ignore")
        everything, focused = snapshot(module, globals())
    unfinished = list(job["skipped"])
    for number, source in job["cells"]:
        channel.send("cell", number=number)
        try:
            error = run_cell(source, number, namespace, seconds)
        except KeyboardInterrupt:
            error = "the cell raised KeyboardInterrupt"
        focused.restore()  # the worker's own code below must not run on patched builtins
        channel.send("cell_done", number=number, error=error)
        if error:
            unfinished.append(number)

    everything.restore()
    nb = Namespace(namespace, note=unfinished_cells_note(unfinished))
    for name, test in plan:  # a tuple of strings and functions: cells cannot change it
        focused.restore()
        channel.send("test", name=name)
        # The verdict is decided here, in this frame, not by a function the test could patch.
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            with time_limit(seconds):
                test(nb)
        except BaseException as raised:  # KeyboardInterrupt and SystemExit too
            error = raised
        took = time.perf_counter() - started
        focused.restore()
        message = "" if error is None else _explain(error)
        channel.send("test_done", name=name, passed=error is None, message=message, seconds=took)
    channel.send("done")
    _exit()


def _explain(error: BaseException) -> str:
    """Why a test failed, as a plain string, even when the error's own text is broken."""
    if isinstance(error, KeyboardInterrupt):
        return "the code raised KeyboardInterrupt"
    try:
        return str.__str__(explain(error))
    except BaseException as broken:  # e.g. an exception whose __str__ raises
        return f"the test failed with {type(error).__name__} (its message: {type(broken).__name__})"


def _limit_memory(megabytes: float) -> None:
    """Cap the memory this process can allocate: past it, allocations raise MemoryError."""
    try:
        import resource
    except ImportError:  # not on Windows
        return
    limit = int(megabytes * 2**20)
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard == resource.RLIM_INFINITY or limit < hard:
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _exit() -> NoReturn:
    """Leave now: threads or atexit hooks the notebook left behind must not hold the worker."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # the notebook may have replaced or closed them
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
