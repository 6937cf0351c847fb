"""First-order Markov models by counting (chapter 2), and the baseline later chapters beat.

A model is a transition matrix ``P`` of shape (N, N): row ``i`` is the distribution of
the next token after token ``i``, so every row sums to one. Tokens are integer ids.

:func:`char_bigram_baseline` fits a character-level model to the Python standard
library source (:func:`course.data.python_source`) and reports its negative
log-likelihood per character on a fixed validation split: the number a trained
transformer has to beat (chapter 9).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import numpy as np

from course import data

#: The last tenth of the corpus is held out for validation; the rest is training text.
VALIDATION_FRACTION = 0.1

#: Add-k strength of the baseline: one imagined sighting of every transition.
BASELINE_K = 1.0


def _as_ids(ids: np.ndarray | Iterable[int], n_states: int) -> np.ndarray:
    """``ids`` as a 1-D int64 array whose entries all lie in ``range(n_states)``."""
    array = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"token ids must be a 1-D sequence of integers, got {array.dtype}")
    if array.min() < 0 or array.max() >= n_states:
        raise ValueError(f"token ids must lie in [0, {n_states}), got {array.min()}..{array.max()}")
    return array.astype(np.int64)


def count_transitions(sequences: Iterable[np.ndarray | Iterable[int]], n_states: int) -> np.ndarray:
    """How often token ``j`` directly follows token ``i``, summed over ``sequences``: (N, N).

    Pairs are counted inside each sequence, never across the end of one and the start
    of the next. Empty and one-token sequences contribute nothing.
    """
    if n_states < 1:
        raise ValueError(f"n_states must be at least 1, got {n_states}")
    counts = np.zeros(n_states * n_states, dtype=np.int64)
    for sequence in sequences:
        ids = _as_ids(sequence, n_states)
        if len(ids) > 1:
            counts += np.bincount(ids[:-1] * n_states + ids[1:], minlength=n_states * n_states)
    return counts.reshape(n_states, n_states)


def transition_matrix(counts: np.ndarray, k: float = 0.0) -> np.ndarray:
    """Rows of ``counts + k`` divided by their sums: (R, N), every row sums to one.

    ``counts`` has one row per context: (N, N) for a first-order model, (N * N, N) for
    a second-order one.

    ``k`` > 0 is add-k smoothing: every transition gets ``k`` imagined sightings, so
    none has probability zero. A row that is still all zero (a token never followed by
    anything, with ``k`` = 0) becomes uniform: with no evidence, every next token is
    equally likely.
    """
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2 or counts.shape[1] == 0:
        raise ValueError(f"counts must be a matrix (R, N) with N >= 1, got shape {counts.shape}")
    if k < 0 or (counts < 0).any():
        raise ValueError(f"counts and k must be non-negative, got k={k}")
    smoothed = counts + k
    totals = smoothed.sum(axis=1, keepdims=True)  # (R, 1)
    uniform = np.full_like(smoothed, 1.0 / counts.shape[1])
    return np.where(totals > 0, smoothed / np.where(totals > 0, totals, 1.0), uniform)


def nll_per_token(transitions: np.ndarray, ids: np.ndarray | Iterable[int]) -> float:
    """Mean of ``-ln P[previous, next]`` over the consecutive pairs of ``ids``, in nats.

    It is ``inf`` when some pair has probability zero. Perplexity is ``exp`` of it.
    """
    transitions = np.asarray(transitions, dtype=float)
    ids = _as_ids(ids, transitions.shape[0])
    if len(ids) < 2:
        raise ValueError("the negative log-likelihood needs at least two tokens (one transition)")
    with np.errstate(divide="ignore"):
        return float(-np.log(transitions[ids[:-1], ids[1:]]).mean())


def split_text(text: str, validation_fraction: float = VALIDATION_FRACTION) -> tuple[str, str]:
    """``(train, validation)``, validation being the last ``validation_fraction`` of ``text``."""
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    cut = len(text) - int(len(text) * validation_fraction)
    return text[:cut], text[cut:]


def char_ids(text: str, alphabet: str) -> np.ndarray:
    """The index in ``alphabet`` (sorted, distinct characters) of each character of ``text``."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    letters = np.frombuffer(alphabet.encode("utf-32-le"), dtype=np.uint32)
    ids = np.searchsorted(letters, codes)
    if len(codes) and (ids.max() >= len(letters) or (letters[ids] != codes).any()):
        unknown = sorted({chr(c) for c in codes} - set(alphabet))
        raise ValueError(f"characters not in the alphabet: {unknown[:5]!r}")
    return ids.astype(np.int64)


@dataclass(frozen=True)
class BigramBaseline:
    """A character bigram model of a text, and how well it predicts held-out text."""

    alphabet: str  # sorted distinct characters of the whole text
    transitions: np.ndarray  # (V, V), fitted on the training part
    train_chars: int
    validation_chars: int
    train_nll: float  # nats per character
    validation_nll: float  # nats per character: the number to beat


def fit_char_bigram(text: str, k: float = BASELINE_K) -> BigramBaseline:
    """Fit an add-``k`` character bigram on the first 90 % of ``text``, score the last 10 %.

    The alphabet is every character of the whole text, so validation never meets an
    unknown character.
    """
    train, validation = split_text(text)
    alphabet = "".join(sorted(set(text)))
    train_ids, validation_ids = char_ids(train, alphabet), char_ids(validation, alphabet)
    transitions = transition_matrix(count_transitions([train_ids], len(alphabet)), k)
    return BigramBaseline(
        alphabet=alphabet,
        transitions=transitions,
        train_chars=len(train),
        validation_chars=len(validation),
        train_nll=nll_per_token(transitions, train_ids),
        validation_nll=nll_per_token(transitions, validation_ids),
    )


@cache
def char_bigram_baseline() -> BigramBaseline:
    """The course's baseline: :func:`fit_char_bigram` on :func:`course.data.python_source`."""
    return fit_char_bigram(data.python_source())
