"""Text the course computes on: the toy command languages, generated in code.

The toy corpora are Python literals; the real corpus is the source of the Python
standard library installed with the interpreter. Nothing is downloaded.
"""

from __future__ import annotations

import io
import sysconfig
import tokenize
from pathlib import Path

#: The first toy language: three commands a computer assistant understands, with
#: how often each one is spoken (chapter 2 turns these into a Markov chain).
SHOW_ME_COMMANDS: dict[str, float] = {
    "show me my directories please": 0.2,
    "show me my files please": 0.3,
    "show me my photos please": 0.5,
}

#: A language where the next word depends on the word before the last one
#: (chapter 2's second-order model): after "ran" comes "down" or "please".
BATTERY_PROGRAM_COMMANDS: dict[str, float] = {
    "check whether the battery ran down please": 0.4,
    "check whether the program ran please": 0.6,
}

#: Two equally likely sentences whose word after "ran" depends on a word eight
#: positions back (chapter 3's skips and masks, chapter 4's hand-wired attention).
LONG_RANGE_COMMANDS: dict[str, float] = {
    "check the program log and find out whether it ran please": 0.5,
    "check the battery log and find out whether it ran down please": 0.5,
}

#: f-string tokens, which Python 3.12 added (before, an f-string was one STRING).
_FSTRING = {
    getattr(tokenize, name)
    for name in ("FSTRING_START", "FSTRING_MIDDLE")
    if hasattr(tokenize, name)
}


def words(sentence: str) -> list[str]:
    """Split a sentence into lower-case words on whitespace."""
    return sentence.lower().split()


def vocabulary(sentences: list[str]) -> list[str]:
    """The sorted list of distinct words in ``sentences``: position = word index."""
    return sorted({word for sentence in sentences for word in words(sentence)})


#: Pure-Python standard-library modules that have existed, little changed, since
#: Python 3.8. Their source is the course's real corpus: about 1.9 MB of text that
#: every Python installation carries, so nothing is downloaded.
PYTHON_SOURCE_MODULES: tuple[str, ...] = (
    "abc", "argparse", "ast", "bisect", "calendar", "collections/__init__", "colorsys",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "difflib",
    "enum", "fnmatch", "fractions", "functools", "gettext", "glob", "heapq", "inspect",
    "json/decoder", "json/encoder", "locale", "logging/__init__", "operator", "pathlib",
    "pprint", "pydoc", "queue", "random", "shlex", "statistics", "string", "subprocess",
    "tarfile", "textwrap", "threading", "tokenize", "typing", "zipfile",
)  # fmt: skip


def python_source(modules: tuple[str, ...] = PYTHON_SOURCE_MODULES) -> str:
    """The source of ``modules`` from this interpreter's standard library, joined in order.

    Line endings are normalised to ``\\n``. The text (and every number computed from it)
    can differ slightly between Python minor versions; within one version it is fixed.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for module in modules:
        path = stdlib / f"{module}.py"
        if not path.is_file():
            raise FileNotFoundError(f"standard-library module {module!r} not found at {path}")
        texts.append(path.read_text(encoding="utf-8").replace("\r\n", "\n"))
    return "\n".join(texts)


def code_and_comment_lines(text: str, min_length: int = 10) -> list[tuple[str, bool]]:
    """Every line of code and every comment of Python ``text``, in order, with a flag
    that is True for a comment (chapter 12's sequence-classification task).

    A comment is the text after its ``#``, stripped; a code line is a stripped line
    that holds no comment and no string (so no docstring prose). Items shorter than
    ``min_length`` characters are left out.
    """
    comments: dict[int, str] = {}  # line number -> comment text
    with_strings: set[int] = set()  # lines that hold (part of) a string or a comment
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
        if token.type in (tokenize.STRING, tokenize.COMMENT) or token.type in _FSTRING:
            with_strings.update(range(token.start[0], token.end[0] + 1))
    items = []
    for number, line in enumerate(text.split("\n"), start=1):
        if number in comments:
            items.append((comments[number], True))
        elif number not in with_strings:
            items.append((line.strip(), False))
    return [(item, is_comment) for item, is_comment in items if len(item) >= min_length]
