"""The grading worker: runs a student's notebook and answers the grader's calls into it.

The grader (remote.py) starts it, sandboxed where the system allows (sandbox.py), and
talks to it over two pipes, one JSON object a line. Requests come in on fd `REQUESTS`:

    {"op": "cell", "id": 1, "number": 4, "source": "...", "seconds": 30}
    {"op": "apply", "id": 2, "payload": base64(pickle((function, args, kwargs))), "seconds": 30}

and each gets one answer on fd `ANSWERS`, with the same id:

    {"id": 1, "error": ""}                          the cell ran ("" = no error)
    {"id": 2, "value": <wire.encode(result)>}       the call returned
    {"id": 2, "raised": [type name, builtin bases, message, function, where]}

The worker holds no test, no answer and no verdict: the grader pickles its own objects
in (`function` is often `getattr` on a handle), and reads back plain data that it
decodes itself. Student code can write on these pipes too; it can only ever say what
its own functions could have returned.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import importlib
import itertools
import json
import os
import pickle
import sys
import traceback
from typing import Any, NoReturn

from course.grading import wire
from course.grading.execute import new_namespace, run_cell
from course.grading.namespace import MissingName
from course.grading.outcomes import explain, time_limit
from course.grading.probes import KeepHere

REQUESTS, ANSWERS = 3, 4  # file descriptors given by the grader

#: Objects the grader holds handles to, by number. Read by `handle()` when a pickled
#: request names one.
_KEPT: dict[int, Any] = {}
_NAMES: dict[str, Any] = {}


def handle(number: int) -> Any:
    """The object behind handle `number` (what a pickled `Remote` unpickles to)."""
    try:
        return _KEPT[number]
    except KeyError:
        raise LookupError(f"the worker holds no object {number}") from None


def notebook_name(name: str) -> Any:
    """A global of the notebook, or MissingName with the closest name it does define."""
    import difflib

    if name in _NAMES:
        return _NAMES[name]
    message = f"the notebook defines no `{name}`; did you run its cell, or rename it?"
    names = [n for n in _NAMES if isinstance(n, str) and not n.startswith("_")]
    close = difflib.get_close_matches(name, names, 1)
    raise MissingName(message + (f" (it defines `{close[0]}`)" if close else ""))


_NUMBERS = itertools.count(1)


def notebook_names() -> dict[str, Any]:
    """The notebook's globals (the dict its cells run in)."""
    return _NAMES


def keep(value: Any) -> int:
    """Hold `value` for the grader; its handle's number."""
    number = next(_NUMBERS)
    _KEPT[number] = value
    return number


def main(preload: tuple[str, ...] = ()) -> NoReturn:
    """Answer the grader's requests until it says exit; first import `preload` (libraries
    the notebook imports, whose import then overlaps the grader's own)."""
    for name in preload:  # a library that fails to import fails the cell that imports it
        with contextlib.suppress(BaseException):
            importlib.import_module(name)
    sys.stdin = open(os.devnull)  # noqa: SIM115  (input() in a cell gets EOF)
    os.dup2(sys.stdin.fileno(), 0)
    requests = os.fdopen(REQUESTS, "rb", buffering=0)
    os.set_inheritable(REQUESTS, False)
    os.set_inheritable(ANSWERS, False)
    sys.path.insert(0, os.getcwd())  # like Jupyter: modules next to the notebook import
    main_module = new_namespace()
    sys.modules["__main__"] = main_module  # pickle and multiprocessing find cell functions
    global _NAMES
    _NAMES = main_module.__dict__
    pending = b""
    while True:
        chunk = requests.read(65536)
        if not chunk:
            _exit()
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            answer = _answer(line)
            if answer is not None:
                _send(answer)


def _restore() -> None:
    """Put back the builtins and this module's names a cell may have rebound or deleted.

    Not a defence of the verdict (there is none here to defend): it keeps the
    worker's own loop working, so a notebook that patches `len` still gets graded.
    """
    vars(builtins).update(_BUILTINS)
    globals().update(_OWN)


def _answer(line: bytes, restore: Any = _restore) -> dict[str, Any] | None:
    restore()
    try:
        request = json.loads(line)
        number, op = request["id"], request["op"]
        seconds = float(request["seconds"])
    except (ValueError, KeyError, TypeError):
        return None
    if op == "cell":
        try:
            error = run_cell(request["source"], request["number"], _NAMES, seconds)
        except KeyboardInterrupt:
            error = "the cell raised KeyboardInterrupt"
        restore()
        return {"id": number, "error": error}
    if op == "apply":
        answer = _apply(request["payload"], seconds)
        restore()
        return {"id": number, **answer}
    if op == "exit":
        _exit()
    return None


def _apply(payload: str, seconds: float) -> dict[str, Any]:
    try:
        function, args, kwargs = pickle.loads(base64.b64decode(payload))
        with time_limit(seconds):
            result = function(*args, **kwargs)
            if isinstance(result, KeepHere):
                return {"value": ["handle", keep(result.value), type(result.value).__name__, ""]}
            return {"value": wire.encode(result, keep)}
    except BaseException as error:  # everything, SystemExit and the time limit included
        return {"raised": _raised(error)}


def _raised(error: BaseException) -> list[Any]:
    """[type, builtin bases, message, notebook function, where] of an exception."""
    kind = type(error)
    bases = [k.__name__ for k in kind.__mro__ if getattr(builtins, k.__name__, None) is k]
    try:
        message = str.__str__(explain(error))
    except BaseException as broken:
        message = f"{kind.__name__} (its message raised {type(broken).__name__})"
    frames = [
        f
        for f in traceback.extract_tb(error.__traceback__)
        if f.filename.startswith("<cell") or "ipykernel_" in f.filename
    ]
    function = frames[-1].name if frames else ""
    where = f"{frames[-1].filename.strip('<>')}, line {frames[-1].lineno}" if frames else ""
    name = getattr(kind, "__name__", "Exception")
    return [str(name)[:100], bases, message, str(function)[:100], where]


def _send(answer: dict[str, Any]) -> None:
    for stream in (sys.stdout, sys.stderr):  # what the cell printed reaches the report
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        data = (json.dumps(answer, allow_nan=True) + "\n").encode()
    except (ValueError, TypeError, RecursionError) as error:  # e.g. a value nested too deep
        reason = f"the result could not be sent: {type(error).__name__}"
        data = json.dumps({"id": answer["id"], "raised": ["ValueError", [], reason, "", ""]})
        data = (data + "\n").encode()
    with contextlib.suppress(OSError):  # the notebook may have closed the pipe: its loss
        while data:
            data = data[os.write(ANSWERS, data) :]


def _exit() -> NoReturn:
    """Leave now: threads or atexit hooks the notebook left behind must not hold the worker."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # the notebook may have replaced or closed them
            stream.flush()
    os._exit(0)


_BUILTINS = dict(vars(builtins))
_OWN = {name: value for name, value in globals().items() if name not in ("_NAMES", "_KEPT")}

if __name__ == "__main__":
    main()
