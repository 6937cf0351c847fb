"""Execute notebook cells as plain Python: IPython syntax translated, magics made harmless."""

from __future__ import annotations

import linecache
import re
import types
from typing import Any

from course.grading.outcomes import explain, time_limit

#: A line that may hold IPython syntax: `%magic`, `!command`, `x = !command`, `name?`.
_IPYTHON_LINE = re.compile(r"^[ \t]*[%!]|=[ \t]*[%!]|\?[ \t]*$", re.MULTILINE)

#: Magics whose code the notebook relies on (definitions under `%%time`): they run it once.
_RUN_CODE_MAGICS = {"time", "timeit", "capture", "prun"}


class IPythonStub:
    """What `get_ipython()` returns while grading: magics and shell commands do nothing.

    Only the timing/capture magics run their code. Shell commands (`!pip install`) never run.
    """

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.user_ns = namespace

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 0) -> None:
        if name in _RUN_CODE_MAGICS and line.strip():
            exec(compile(line, "<magic>", "exec"), self.user_ns)

    def run_cell_magic(self, name: str, line: str, cell: str) -> None:
        if name in _RUN_CODE_MAGICS:
            exec(compile(cell, "<magic>", "exec"), self.user_ns)

    def system(self, command: str) -> None:
        """`!command` does not run while grading."""

    def getoutput(self, command: str, split: bool = True) -> list[str]:
        """`x = !command` does not run while grading: it gives no lines."""
        return []

    def __getattr__(self, name: str) -> Any:
        """Anything else (`config`, `events.register`, ...) is a do-nothing callable."""
        return lambda *args, **kwargs: None


def _display(*objects: object, **options: object) -> None:
    """Jupyter's `display()`, reduced to printing the repr of each object."""
    for item in objects:
        print(repr(item))


def new_namespace() -> types.ModuleType:
    """A fresh `__main__` module to run cells in, with `get_ipython()` and `display()`."""
    module = types.ModuleType("__main__")
    shell = IPythonStub(module.__dict__)
    module.__dict__.update(get_ipython=lambda: shell, display=_display)
    return module


def _ipython_like_lines(source: str) -> int:
    """How many lines of a cell IPython may translate (a quick look, not a parse)."""
    return len(_IPYTHON_LINE.findall(source))


#: The cells `plain_python` translates (a Colab setup cell has 350 characters, 3 such
#: lines); longer ones are left to `compile_cell`, in the worker and under its time
#: limit: IPython's translator re-reads the cell for each magic (500 `!` lines: 8 s).
TRANSLATED_AHEAD = 4000  # characters at most
TRANSLATED_AHEAD_LINES = 20  # lines of IPython syntax at most


def translated_ahead(source: str) -> bool:
    """Whether `plain_python` translates this cell: short, with IPython syntax."""
    return (
        len(source) <= TRANSLATED_AHEAD
        and 0 < _ipython_like_lines(source) <= TRANSLATED_AHEAD_LINES
    )


def plain_python(source: str) -> str:
    """A short cell as Python, its IPython syntax translated as Jupyter would.

    The grader translates cells before sending them, so the worker need not import
    IPython (0.1 s at each start). Any other cell comes back unchanged.
    """
    if not translated_ahead(source):
        return source
    try:
        return _translated(source)
    except Exception:  # not translatable: compiling it will say why
        return source


def translator() -> Any:
    """IPython's cell translator, imported on first use (0.1 s)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _translated(source: str) -> str:
    return translator().transform_cell(source)


def compile_cell(source: str, filename: str) -> types.CodeType:
    """Compile a cell; IPython syntax (`%magic`, `!cmd`) goes through IPython's transformer."""
    try:
        code = compile(source, filename, "exec")
    except SyntaxError:
        translated = _translated(source)
        if translated == source:
            raise
        source = translated
        code = compile(source, filename, "exec")
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    return code


def run_cell(source: str, number: int, namespace: dict[str, Any], seconds: float | None) -> str:
    """Run cell `number` (1-based) in `namespace`; "" on success, else why it failed.

    KeyboardInterrupt propagates (the user stopping the run); everything else,
    SystemExit and running out of time included, is caught and explained.
    """
    try:
        with time_limit(seconds):  # translating IPython syntax can take long too
            exec(compile_cell(source, f"<cell {number}>"), namespace)
    except KeyboardInterrupt:
        raise
    except BaseException as error:
        return explain(error)
    return ""
