"""Run one piece of student-facing code under a time limit and explain how it failed."""

from __future__ import annotations

import linecache
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from course.grading.namespace import MissingName

MESSAGE_LIMIT = 2000  # characters of one failure message


class TimeLimitExceeded(BaseException):
    """Raised inside code that ran too long. A BaseException: `except Exception` lets it pass."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"time limit of {seconds:g} s exceeded")
        self.seconds = seconds


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise TimeLimitExceeded in the main thread after `seconds` (SIGALRM).

    Without SIGALRM (Windows) or off the main thread this limits nothing: the
    grader's parent process enforces its own hard limit anyway. An outer timer
    (pytest-timeout's, for one) is put back afterwards with the time it has left.
    """
    if not seconds or not hasattr(signal, "setitimer"):
        yield
        return
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise TimeLimitExceeded(seconds)

    outer_handler = signal.signal(signal.SIGALRM, expire)
    outer_delay, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if outer_handler is None else outer_handler)
        if outer_delay:
            left = max(outer_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


@dataclass(frozen=True)
class Outcome:
    """How one test went: `message` says why it failed (empty when it passed)."""

    passed: bool
    message: str = ""
    seconds: float = 0.0


def run_test(test: Callable[[Any], object], nb: object, seconds: float | None) -> Outcome:
    """Call `test(nb)`; any failure, even SystemExit, becomes a failed Outcome.

    KeyboardInterrupt propagates: in a notebook it is the student pressing stop.
    """
    started = time.perf_counter()
    try:
        with time_limit(seconds):
            test(nb)
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        return Outcome(False, explain(error), time.perf_counter() - started)
    return Outcome(True, "", time.perf_counter() - started)


def explain(error: BaseException, hide_source: bool = False) -> str:
    """One short message that tells a student what went wrong, and where.

    An error rebuilt from the worker was explained there already. `hide_source` keeps
    a hidden test's own lines out of the message of a bare `assert`.
    """
    if hasattr(type(error), "remote_type"):
        message = str(error)
    elif isinstance(error, TimeLimitExceeded):
        message = f"stopped after {error.seconds:g} s (the time limit): is there an infinite loop?"
    elif isinstance(error, MissingName):
        message = str(error)
    elif isinstance(error, NotImplementedError):
        function = _notebook_function(error)
        if function and function != "<module>":
            message = f"not implemented yet: `{function}` still raises NotImplementedError"
        else:
            text = str(error)
            if "not implemented yet" in text:
                message = text
            else:
                message = f"not implemented yet ({text})" if text else "not implemented yet"
    elif isinstance(error, AssertionError):
        fallback = "a hidden check failed" if hide_source else _failing_line(error)
        message = str(error) or f"assertion failed: {fallback}"
    elif isinstance(error, SystemExit):
        message = f"the code called sys.exit({'' if error.code is None else repr(error.code)})"
    elif isinstance(error, MemoryError):
        message = "ran out of memory: grading caps it; is something growing without end?"
    elif isinstance(error, EOFError):
        message = "the code asked for keyboard input (input()), which grading cannot give"
    else:
        message = f"{type(error).__name__}: {error}{_where(error)}"
    return truncate(message, MESSAGE_LIMIT)


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _notebook_frames(error: BaseException) -> list[traceback.FrameSummary]:
    """Frames of the traceback that run notebook code: code compiled from a string
    ("<cell 4>" while grading, "<ipython-input-...>" in Colab) or a Jupyter cell file."""
    return [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if (frame.filename.startswith("<") and not frame.filename.startswith("<frozen"))
        or "ipykernel_" in frame.filename
    ]


def _notebook_function(error: BaseException) -> str | None:
    frames = _notebook_frames(error)
    return frames[-1].name if frames else None


def _where(error: BaseException) -> str:
    frames = _notebook_frames(error)
    if not frames:
        return ""
    frame = frames[-1]
    cell = frame.filename.strip("<>") + ", " if frame.filename.startswith("<cell") else ""
    function = "" if frame.name == "<module>" else f"in `{frame.name}`, "
    return f" ({function}{cell}line {frame.lineno})"


def _failing_line(error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "(no message)"
    last = frames[-1]
    return (last.line or linecache.getline(last.filename, last.lineno or 0)).strip()
