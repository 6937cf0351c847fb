"""The grader's parent process: runs workers, enforces time limits, survives their deaths.

The student's code runs only in the worker (see worker.py). The parent reads the
worker's progress pipe; when the worker dies or overruns a limit, the parent kills it,
notes which cell or test was running, and starts a fresh worker that skips that cell
(or counts that test as failed). Each restart leaves out one more cell or test, and
all of it stays within the total time limit, so grading always ends.

Scores are computed here from the list of tests the worker sent before running any
student code: the worker only reports passed or failed, never points.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from course.grading import reaper
from course.grading.labs import REPO_ROOT
from course.grading.notebook import Notebook, UnusableInput
from course.grading.outcomes import MESSAGE_LIMIT, truncate
from course.grading.questions import GradedTest
from course.grading.results import Grading, Mark

GRACE = 1.0  # the worker interrupts itself at a limit; the parent kills it this much later
OUTPUT_LIMIT = 64_000  # bytes of the notebook's own output kept
POLL = 0.25  # seconds between checks that the worker is still alive


@dataclass(frozen=True)
class Limits:
    cell: float = 30.0  # seconds for each cell, and for each test
    total: float = 300.0  # seconds for the whole grading, restarts included
    memory: float = 4096.0  # MiB the notebook's process may allocate


_Running = tuple[str, Any] | None  # ("cell", 4), ("test", "test_x") or None


@dataclass
class _Ending:
    """How one worker run ended; `running` is the cell or test it was in, if any."""

    finished: bool = False
    running: _Running = None
    reason: str = ""
    out_of_time: bool = False


def grade(notebook: Notebook, tests: Path, limits: Limits = Limits()) -> Grading:
    """Execute `notebook` and grade it with the graded tests in file `tests`."""
    return _Session(notebook, tests, limits).run()


class _Output:
    """The notebook's stdout and stderr, kept up to OUTPUT_LIMIT bytes, the rest drained."""

    def __init__(self) -> None:
        self.kept = bytearray()
        self.dropped = 0
        self._lock = threading.Lock()

    def drain(self, stream: IO[bytes]) -> threading.Thread:
        def run() -> None:
            while chunk := os.read(stream.fileno(), 65536):
                with self._lock:
                    room = max(OUTPUT_LIMIT - len(self.kept), 0)
                    self.kept += chunk[:room]
                    self.dropped += len(chunk) - min(room, len(chunk))

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def text(self) -> str:
        with self._lock:
            text = self.kept.decode("utf-8", "replace")
            return text + (f"\n[{self.dropped} more bytes not kept]" if self.dropped else "")


@dataclass
class _Session:
    """One grading: its workers, one after the other, and what they reported."""

    notebook: Notebook
    tests_file: Path
    limits: Limits
    tests: dict[str, GradedTest] | None = None  # from the first worker, before student code
    marks: dict[str, Mark] = field(default_factory=dict)
    cell_errors: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    output: _Output = field(default_factory=_Output)
    deadline: float = float("inf")  # of the whole grading, on the monotonic clock
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    forged: int = 0  # lines on the progress pipe without the token: written by the notebook

    def run(self) -> Grading:
        started = time.monotonic()
        self.deadline = started + self.limits.total
        notes: list[str] = []
        while True:
            progress = (len(self.skipped), len(self.marks))
            ending = self._run_worker()
            if ending.finished:
                break
            kind, item = ending.running or ("", None)
            if self.tests is None:
                why = (
                    f"not within {self._total}" if ending.out_of_time else self._last_output_line()
                )
                raise UnusableInput(f"the grader could not start: {why}")
            if ending.out_of_time:
                notes.append(f"grading stopped: the notebook used up the {self._total} time limit")
                break
            if kind == "cell":
                self.skipped[item] = f"{ending.reason}; the notebook was run again without it"
            elif kind == "test":
                self._mark(item, False, f"{ending.reason} during this test")
            if progress == (len(self.skipped), len(self.marks)):
                where = f"{kind} {item}" if kind else "outside any cell or test"
                notes.append(f"grading stopped: the notebook {ending.reason} ({where})")
                break
        assert self.tests is not None
        if self.forged:
            notes.append(
                f"the notebook wrote {self.forged} line(s) to the grader's private channel; "
                "they were ignored"
            )
        unrun = notes[-1] if notes else "not run"
        marks = [
            self.marks.get(name) or Mark(test, False, f"not graded: {unrun}")
            for name, test in self.tests.items()
        ]
        return Grading(
            lab=self.notebook.lab or "",
            notebook=self.notebook.path,
            marks=marks,
            notes=self._cell_notes() + notes,
            output=self.output.text(),
            seconds=time.monotonic() - started,
        )

    @property
    def _total(self) -> str:
        return f"{self.limits.total:g} s"

    def _cell_notes(self) -> list[str]:
        cells = dict(self.notebook.code_cells())
        problems = {**self.cell_errors, **self.skipped}
        return [f"cell {n} ({cells[n].label}): {problems[n]}" for n in sorted(problems)]

    def _last_output_line(self) -> str:
        lines = self.output.text().strip().splitlines()
        return lines[-1] if lines else "the worker process ended without a word"

    def _mark(self, name: Any, passed: bool, message: str) -> None:
        """Record a result, only for a known test and only once."""
        if self.tests and name in self.tests and name not in self.marks:
            text = truncate(str(message), MESSAGE_LIMIT).encode("utf-8", "replace").decode()
            self.marks[name] = Mark(self.tests[name], bool(passed), text)

    def _job(self, channel: int) -> bytes:
        cells = [
            (number, cell.source)
            for number, cell in self.notebook.code_cells()
            if number not in self.skipped
        ]
        job = {
            "channel": channel,
            "tests": str(self.tests_file.resolve()),
            "cells": cells,
            "skipped": sorted(self.skipped),
            "graded": sorted(self.marks),
            "seconds": self.limits.cell,
            "memory": self.limits.memory,
            "token": self.token,
        }
        return json.dumps(job).encode()

    def _run_worker(self) -> _Ending:
        read_end, write_end = os.pipe()
        python_path = [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {
            **os.environ,
            "COURSE_GRADING": "1",  # check() cells return at once
            "MPLBACKEND": "Agg",
            "PYTHONPATH": os.pathsep.join(python_path),
        }
        orphans = reaper.Reaper()
        worker = subprocess.Popen(
            [sys.executable, "-P", "-m", "course.grading.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=self.notebook.path.resolve().parent,
            env=env,
            pass_fds=(write_end,),
            start_new_session=True,  # its own process group: killed with all its children
        )
        os.close(write_end)
        assert worker.stdin is not None and worker.stdout is not None
        drainer = self.output.drain(worker.stdout)
        try:
            with contextlib.suppress(BrokenPipeError):  # died at start-up: _follow reports it
                worker.stdin.write(self._job(write_end))
                worker.stdin.close()
            return self._follow(worker, read_end)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the group may be gone already
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            orphans.kill_all()  # processes the notebook started that left the group
            os.close(read_end)
            drainer.join(timeout=1.0)
            if not drainer.is_alive():  # else a process that left the group still writes to it
                worker.stdout.close()

    def _follow(self, worker: subprocess.Popen[bytes], channel: int) -> _Ending:
        """Read progress until the worker says done, dies or runs out of time."""
        running: _Running = None
        item_deadline = float("inf")
        pending = b""
        while True:
            now = time.monotonic()
            if now >= min(self.deadline, item_deadline):
                if now >= self.deadline:
                    return _Ending(running=running, out_of_time=True)
                limit = f"{self.limits.cell:g} s"
                return _Ending(running=running, reason=f"ran past the time limit of {limit}")
            ready, _, _ = select.select([channel], [], [], min(POLL, self.deadline - now))
            if ready:
                chunk = os.read(channel, 65536)
                if not chunk:  # end of file: the worker exited (or closed the pipe)
                    return self._exited(worker, running, min(self.deadline, item_deadline))
            elif worker.poll() is not None:  # exited, but a child it forked holds the pipe
                return _Ending(running=running, reason=_death(worker.returncode))
            else:
                continue
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                event = _parse(line)
                if event.pop("token", None) != self.token:
                    self.forged += bool(line.strip())
                    continue
                if event.get("event") == "done":
                    return _Ending(finished=True)
                now_running = self._advance(event, running)
                if now_running is None:
                    item_deadline = float("inf")
                elif now_running != running:
                    item_deadline = time.monotonic() + self.limits.cell + GRACE
                running = now_running

    def _advance(self, event: dict[str, Any], running: _Running) -> _Running:
        """Take in one progress event; return the cell or test the worker is in now.

        A result counts only for the test announced as running, so a line written to
        the pipe while a cell runs cannot report a test as passed.
        """
        kind = event.get("event")
        if kind == "tests" and self.tests is None:
            self.tests = _trusted_tests(event["tests"])
        elif kind == "broken_tests" and self.tests is None:
            raise UnusableInput(f"cannot load {self.tests_file}: {event.get('message')}")
        elif kind == "cell":
            return ("cell", event.get("number"))
        elif kind == "test":
            return ("test", event.get("name"))
        elif kind == "cell_done" and running == ("cell", event.get("number")):
            error = str(event.get("error") or "")
            if error:
                self.cell_errors[running[1]] = error
            else:
                self.cell_errors.pop(running[1], None)
            return None
        elif kind == "test_done" and running == ("test", event.get("name")):
            self._mark(running[1], event.get("passed") is True, event.get("message", ""))
            return None
        return running

    def _exited(
        self, worker: subprocess.Popen[bytes], running: _Running, deadline: float
    ) -> _Ending:
        """The pipe closed: wait (up to `deadline`) for the worker to exit, and say how."""
        try:
            returncode = worker.wait(timeout=max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            return _Ending(running=running, reason="closed its progress pipe and hung")
        return _Ending(running=running, reason=_death(returncode))


def _parse(line: bytes) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


def _trusted_tests(raw: list[dict[str, Any]]) -> dict[str, GradedTest]:
    """The worker's list of tests, sent before any student code ran."""
    tests = [GradedTest(**item) for item in raw]
    return {test.name: test for test in tests}


def _death(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed the grading process ({name})"
    return f"ended the grading process (exit code {returncode})"
