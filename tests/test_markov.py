"""Tests of course.markov: counting, smoothing, likelihood and the character baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from course import markov


def test_count_transitions_counts_pairs_inside_each_sequence() -> None:
    counts = markov.count_transitions([[0, 1, 1, 2], [2, 0], [], [1]], n_states=3)
    expected = np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0]])
    assert np.array_equal(counts, expected)
    assert counts.dtype == np.int64


def test_count_transitions_rejects_ids_out_of_range() -> None:
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        markov.count_transitions([[0, 3]], n_states=3)
    with pytest.raises(TypeError):
        markov.count_transitions([np.array([0.5, 1.0])], n_states=3)


def test_transition_matrix_normalises_smooths_and_fills_unseen_rows() -> None:
    counts = np.array([[1, 3], [0, 0]])
    assert np.allclose(markov.transition_matrix(counts), [[0.25, 0.75], [0.5, 0.5]])
    assert np.allclose(markov.transition_matrix(counts, k=1.0), [[2 / 6, 4 / 6], [0.5, 0.5]])
    rows = markov.transition_matrix(np.random.default_rng(0).integers(0, 5, (12, 6)), k=0.5)
    assert np.allclose(rows.sum(axis=1), 1.0)


@pytest.mark.parametrize("bad", [np.ones(3), np.ones((2, 0)), -np.ones((2, 2))])
def test_transition_matrix_rejects_bad_counts(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        markov.transition_matrix(bad)


def test_nll_per_token_is_mean_negative_log_probability() -> None:
    transitions = np.array([[0.5, 0.5], [0.1, 0.9]])
    got = markov.nll_per_token(transitions, [0, 1, 1])
    assert math.isclose(got, -(math.log(0.5) + math.log(0.9)) / 2)
    assert markov.nll_per_token(np.array([[1.0, 0.0], [0.0, 1.0]]), [0, 1]) == math.inf
    with pytest.raises(ValueError, match="two tokens"):
        markov.nll_per_token(transitions, [1])


def test_split_text_holds_out_the_last_tenth() -> None:
    train, validation = markov.split_text("abcdefghij" * 10)
    assert (len(train), len(validation)) == (90, 10)
    assert train + validation == "abcdefghij" * 10
    with pytest.raises(ValueError):
        markov.split_text("abc", validation_fraction=1.0)


def test_char_ids_and_unknown_characters() -> None:
    assert markov.char_ids("bca€", "abc€").tolist() == [1, 2, 0, 3]
    assert markov.char_ids("", "ab").tolist() == []
    with pytest.raises(ValueError, match="'z'"):
        markov.char_ids("az", "ab")


def test_fit_char_bigram_learns_a_deterministic_text() -> None:
    model = markov.fit_char_bigram("ab" * 500, k=0.0)
    assert model.alphabet == "ab"
    assert model.validation_nll == 0.0  # "a" is always followed by "b" and vice versa


def test_baseline_beats_uniform_guessing_on_python_source() -> None:
    baseline = markov.char_bigram_baseline()
    assert 1.5 < baseline.validation_nll < math.log(len(baseline.alphabet))
    assert baseline.train_nll < baseline.validation_nll
    assert baseline.validation_chars == pytest.approx(
        (baseline.train_chars + baseline.validation_chars) * markov.VALIDATION_FRACTION, abs=1
    )
