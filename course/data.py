"""Text the course computes on: the toy command languages, generated in code.

Every corpus here is built from Python literals, so each chapter and test runs
offline and gives the same numbers on every machine.
"""

from __future__ import annotations

#: The first toy language: three commands a computer assistant understands, with
#: how often each one is spoken (chapter 2 turns these into a Markov chain).
SHOW_ME_COMMANDS: dict[str, float] = {
    "show me my directories please": 0.2,
    "show me my files please": 0.3,
    "show me my photos please": 0.5,
}


def words(sentence: str) -> list[str]:
    """Split a sentence into lower-case words on whitespace."""
    return sentence.lower().split()


def vocabulary(sentences: list[str]) -> list[str]:
    """The sorted list of distinct words in ``sentences``: position = word index."""
    return sorted({word for sentence in sentences for word in words(sentence)})
