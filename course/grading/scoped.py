"""What a test can put in force around its calls into the notebook.

    nb.without("torch.nn.functional.cross_entropy").cross_entropy(logits, targets)

fails the call, naming the function, if the student's code calls one the question
forbids. And

    with nb.replacing(attention_torch=reference_attention):
        mha = nb.MultiHeadAttention(24, 4)
        ...

runs the student's later answer on the course's reference for an earlier one, so one
bug costs one question. A reference is a self-contained function: its source travels
to the worker with the modules it uses, and the notebook's name is bound to it until
the block ends.
"""

from __future__ import annotations

import inspect
import textwrap
import types
from collections.abc import Callable
from typing import Any


class Banning:
    """The names of `nb`, each called with `bans` in force."""

    def __init__(self, nb: Any, bans: tuple[str, ...]) -> None:
        self._nb = nb
        self._bans = bans

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        target = self._nb[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._nb.banned(self._bans, target, args, kwargs)

        return call


def reference_sources(functions: dict[str, Callable[..., Any]]) -> dict[str, Any]:
    """{name: (function name, source, imports)}: what the worker needs to rebuild each."""
    sent = {}
    for name, function in functions.items():
        if not isinstance(function, types.FunctionType):
            raise TypeError(f"a reference must be a plain function, got {type(function)}")
        source = textwrap.dedent(inspect.getsource(function))
        imports = [
            (alias, value.__name__)
            for alias, value in function.__globals__.items()
            if isinstance(value, types.ModuleType) and alias in function.__code__.co_names
        ]
        sent[name] = (function.__name__, source, imports)
    return sent
