"""Planted bugs ("mutants") that prove a lab's tests catch what they should."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mutant:
    """`code` is appended to the solution as a last cell, redefining something with a bug.

    Grading the result must fail every test named in `must_fail` and score under 100%.
    """

    name: str
    code: str
    must_fail: list[str]

    @classmethod
    def of(cls, value: Mutant | Mapping[str, Any]) -> Mutant:
        """Accept a Mutant or a dict with the same keys."""
        return value if isinstance(value, Mutant) else cls(**value)
