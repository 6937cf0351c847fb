"""The grading worker: runs a notebook's cells, then its graded tests, in a process of its own.

`runner.py` starts it as `python -P -m course.grading.worker` in the notebook's folder
and writes its job (JSON) on stdin. Stdout and stderr belong to the student's code; the
worker reports to the parent only through a dedicated pipe, one JSON object a line:

    {"event": "tests", "tests": [{"name", "question", "points", "hidden"}, ...]}
    {"event": "cell", "number": 4}       ... {"event": "cell_done", "number": 4, "error": ""}
    {"event": "test", "name": "test_x"}  ... {"event": "test_done", "name": "test_x",
                                               "passed": false, "message": "...", "seconds": 0.1}
    {"event": "done"}

The list of tests goes out before any student code runs, so the parent can trust it.
If the process dies, the last "cell" or "test" without its "_done" tells the parent
where, and it starts a new worker that skips that cell or that test.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, NoReturn

from course.grading.execute import new_namespace, run_cell
from course.grading.labs import load_tests
from course.grading.namespace import Namespace, unfinished_cells_note
from course.grading.outcomes import Outcome, run_test
from course.grading.questions import collect_tests


class Channel:
    """The write end of the progress pipe. Unbuffered: a message sent survives a crash."""

    def __init__(self, fd: int) -> None:
        os.set_inheritable(fd, False)  # not passed on to programs the notebook starts
        self.fd = fd

    def send(self, event: str, **fields: Any) -> None:
        data = (json.dumps({"event": event, **fields}) + "\n").encode()
        while data:
            data = data[os.write(self.fd, data) :]


def main() -> NoReturn:
    job = json.loads(sys.stdin.read())
    sys.stdin = open(os.devnull)  # noqa: SIM115  (input() in a cell gets EOF, not the job)
    os.dup2(sys.stdin.fileno(), 0)
    channel = Channel(job["channel"])
    try:
        tests = collect_tests(load_tests(Path(job["tests"])))
    except BaseException as error:
        channel.send("broken_tests", message=f"{type(error).__name__}: {error}")
        _exit()
    channel.send("tests", tests=[asdict(graded) for graded, _ in tests])

    sys.path.insert(0, os.getcwd())  # like Jupyter: modules next to the notebook import
    main_module = new_namespace()
    sys.modules["__main__"] = main_module  # pickle and multiprocessing find cell functions
    namespace = main_module.__dict__
    unfinished = list(job["skipped"])
    for number, source in job["cells"]:
        channel.send("cell", number=number)
        try:
            error = run_cell(source, number, namespace, job["seconds"])
        except KeyboardInterrupt:
            error = "the cell raised KeyboardInterrupt"
        channel.send("cell_done", number=number, error=error)
        if error:
            unfinished.append(number)

    nb = Namespace(namespace, note=unfinished_cells_note(unfinished))
    for graded, test in tests:
        if graded.name in job["graded"]:
            continue
        channel.send("test", name=graded.name)
        try:
            outcome = run_test(test, nb, job["seconds"])
        except KeyboardInterrupt:
            outcome = Outcome(False, "the code raised KeyboardInterrupt")
        channel.send("test_done", name=graded.name, **asdict(outcome))
    channel.send("done")
    _exit()


def _exit() -> NoReturn:
    """Leave now: threads or atexit hooks the notebook left behind must not hold the worker."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # the notebook may have replaced or closed them
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
