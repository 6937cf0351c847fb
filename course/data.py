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


def words(sentence: str) -> list[str]:
    """Split a sentence into lower-case words on whitespace."""
    return sentence.lower().split()


def vocabulary(sentences: list[str]) -> list[str]:
    """The sorted list of distinct words in ``sentences``: position = word index."""
    return sorted({word for sentence in sentences for word in words(sentence)})
