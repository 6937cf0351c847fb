"""Graded tests for lab 2, "Sequences as transition matrices" (22 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour
only: values, shapes, dtypes, seeded sampling statistics and the errors raised on
bad input.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import pairwise

import numpy as np

from course.grading import assert_close, must_raise, probes, question

COMMANDS = [
    "show me my directories please",
    "show me my files please",
    "show me my photos please",
]
VOCAB = ["directories", "files", "me", "my", "photos", "please", "show"]
BATTERY = [
    "check whether the battery ran down please",
    "check whether the program ran please",
]
BATTERY_VOCAB = sorted({word for sentence in BATTERY for word in sentence.split()})


def _reference_counts(sentences: list[str], vocab: list[str]) -> np.ndarray:
    counts = np.zeros((len(vocab), len(vocab)), dtype=np.int64)
    for sentence in sentences:
        words = sentence.lower().split()
        for a, b in pairwise(words):
            counts[vocab.index(a), vocab.index(b)] += 1
    return counts


def _reference_matrix(counts: np.ndarray, k: float = 0.0) -> np.ndarray:
    smoothed = counts.astype(float) + k
    totals = smoothed.sum(axis=1, keepdims=True)
    return np.where(totals > 0, smoothed / np.where(totals > 0, totals, 1), 1 / counts.shape[1])


def _command_matrix() -> np.ndarray:
    return _reference_matrix(_reference_counts(COMMANDS * 2 + COMMANDS[2:] * 4, VOCAB))


# --- Question 1: count_transitions ----------------------------------------------------


@question("q1", points=2)
def test_counts_of_a_small_corpus(nb):
    corpus = [*COMMANDS, "Show me my PHOTOS please"]
    got = nb.count_transitions(corpus, list(VOCAB))
    expected = _reference_counts(corpus, VOCAB)
    assert isinstance(got, np.ndarray), f"expected a NumPy array, got {type(got)}"
    assert got.shape == (7, 7), f"7 words should give a (7, 7) matrix, got shape {got.shape}"
    assert np.issubdtype(got.dtype, np.integer), f"counts should be integers, got {got.dtype}"
    assert np.array_equal(got, expected), (
        f"expected counts\n{expected}\ngot\n{got}\nHint: counts[i, j] += 1 for every word "
        "vocab[j] that comes right after vocab[i], after lower-casing."
    )


@question("q1", points=1, hidden=True)
def test_counts_stay_inside_sentences_and_handle_empty_input(nb):
    got = nb.count_transitions(["show me", "my files"], list(VOCAB))
    assert got[VOCAB.index("me"), VOCAB.index("my")] == 0, (
        "the last word of one sentence ('me') is not followed by the first word of the next "
        "('my'): count pairs inside each sentence only"
    )
    assert got.sum() == 2, f"'show me' and 'my files' hold 2 pairs, counted {got.sum()}"
    for empty in ([], [""], ["   "]):
        counts = nb.count_transitions(empty, list(VOCAB))
        assert np.shape(counts) == (7, 7) and not np.any(counts), (
            f"count_transitions({empty!r}) should be a (7, 7) matrix of zeros, got {counts!r}"
        )
    must_raise(
        lambda: nb.count_transitions(["show me my cats please"], list(VOCAB)),
        "a sentence with the unknown word 'cats'",
        mentioning="cats",
    )


# --- Question 2: transition_matrix ----------------------------------------------------


@question("q2", points=2)
def test_rows_are_normalised_counts(nb):
    counts = np.array([[1, 3, 0], [2, 2, 4], [0, 0, 5]])
    got = nb.transition_matrix(counts)
    expected = _reference_matrix(counts)
    assert isinstance(got, np.ndarray) and got.dtype == np.float64, (
        f"expected a float64 NumPy array, got {type(got)} of dtype {getattr(got, 'dtype', None)}"
    )
    assert_close(
        got,
        expected,
        what="transition_matrix of [[1, 3, 0], [2, 2, 4], [0, 0, 5]]",
        hint="divide each row of counts by that row's sum (axis=1, keepdims=True)",
    )


@question("q2", points=1, hidden=True)
def test_unseen_rows_smoothing_and_bad_k(nb):
    counts = np.array([[1, 3, 0], [0, 0, 0], [0, 0, 5]])
    before = counts.copy()
    got = nb.transition_matrix(counts)
    assert np.allclose(got[1], 1 / 3), (
        f"a row with no counts should become uniform [1/3, 1/3, 1/3], got {got[1]}"
    )
    assert np.array_equal(counts, before), "transition_matrix must not modify `counts`"
    smoothed = nb.transition_matrix(counts, k=0.5)
    expected = _reference_matrix(counts, 0.5)
    assert np.allclose(smoothed, expected, rtol=1e-5, atol=1e-8), (
        f"with k=0.5 the first row should be (1.5, 3.5, 0.5) / 5.5 = {expected[0]}, "
        f"got {smoothed[0]}. Hint: add k to every count first, then normalise."
    )
    must_raise(lambda: nb.transition_matrix(counts, k=-1.0), "k = -1")


# --- Question 3: next_word_distribution -------------------------------------------------


@question("q3", points=1)
def test_next_word_distribution_is_the_row(nb):
    P = _command_matrix()
    for index, word in enumerate(VOCAB):
        got = nb.next_word_distribution(word, list(VOCAB), P)
        assert np.shape(got) == (7,), f"expected shape (7,), got {np.shape(got)}"
        assert np.allclose(got, P[index]), (
            f"the distribution after {word!r} is row {index} of P, {P[index]}; got {got}"
        )


@question("q3", points=1, hidden=True)
def test_next_word_distribution_rejects_unknown_words(nb):
    nb.next_word_distribution(VOCAB[0], list(VOCAB), _command_matrix())  # valid first
    must_raise(
        lambda: nb.next_word_distribution("cats", list(VOCAB), _command_matrix()),
        "next_word_distribution('cats', ...)",
        mentioning="cats",
    )


# --- Question 4: sample_next and generate -----------------------------------------------


@question("q4", points=2)
def test_sample_next_follows_the_probabilities(nb):
    P = _command_matrix()
    rng = nb.send(np.random.default_rng(2026))  # one generator, where the notebook runs
    draws = Counter(nb.call(probes.repeat, 4000, nb.sample_next, "my", list(VOCAB), P, rng))
    row = P[VOCAB.index("my")]
    for word, probability in zip(VOCAB, row, strict=True):
        frequency = draws[word] / 4000
        assert abs(frequency - probability) < 0.03, (
            f"after 'my', {word!r} should come up about {probability:.2f} of the time; it came "
            f"up {frequency:.3f} in 4000 seeded draws. Hint: rng.choice(len(vocab), p=row) "
            "with row = the distribution after the word."
        )


@question("q4", points=1)
def test_generate_is_reproducible_and_follows_the_chain(nb):
    P = _command_matrix()
    first = nb.generate("show", 30, list(VOCAB), P, seed=7)
    again = nb.generate("show", 30, list(VOCAB), P, seed=7)
    assert first == again, "the same seed must give the same words"
    assert len(first) == 30, f"generate(..., n_words=30) should return 30 words, got {len(first)}"
    for a, b in pairwise(["show", *first]):
        assert P[VOCAB.index(a), VOCAB.index(b)] > 0, (
            f"{b!r} can never follow {a!r}, yet generate produced it: draw each word from the "
            "row of the word drawn just before it"
        )
    assert nb.generate("show", 0, list(VOCAB), P, seed=7) == [], "n_words=0 should give []"


@question("q4", points=1, hidden=True)
def test_generate_uses_one_rng_choice_per_word(nb):
    rng = np.random.default_rng(3)
    P = rng.random((7, 7)) ** 3
    P /= P.sum(axis=1, keepdims=True)
    reference_rng = np.random.default_rng(11)
    expected, word = [], "me"
    for _ in range(25):
        word = VOCAB[reference_rng.choice(7, p=P[VOCAB.index(word)])]
        expected.append(word)
    got = nb.generate("me", 25, list(VOCAB), P, seed=11)
    assert got == expected, (
        f"with seed 11, expected {expected[:6]}..., got {list(got)[:6]}... Hint: make one "
        "np.random.default_rng(seed) and call rng.choice(len(vocab), p=row) once per word."
    )
    must_raise(lambda: nb.generate("me", -1, list(VOCAB), P, seed=0), "n_words=-1")


# --- Question 5: log_likelihood and perplexity ------------------------------------------


@question("q5", points=2)
def test_log_likelihood_and_perplexity_values(nb):
    P = _command_matrix()
    sentence = "show me my files please"
    words = sentence.split()
    expected = sum(math.log(P[VOCAB.index(a), VOCAB.index(b)]) for a, b in pairwise(words))
    got = nb.log_likelihood(sentence, list(VOCAB), P)
    assert isinstance(got, float), f"log_likelihood should return a float, got {type(got)}"
    assert math.isclose(got, expected, rel_tol=1e-9), (
        f"log_likelihood({sentence!r}) should be {expected:.6f}, got {got}. "
        "Hint: natural logarithm, summed over consecutive pairs."
    )
    uniform = np.full((7, 7), 1 / 7)
    ppl = nb.perplexity(COMMANDS, list(VOCAB), uniform)
    assert math.isclose(ppl, 7.0, rel_tol=1e-9), (
        f"under a uniform matrix over 7 words the perplexity is 7, got {ppl}"
    )
    n_pairs = 3 * 4
    total = sum(nb.log_likelihood(s, list(VOCAB), P) for s in COMMANDS)
    ppl = nb.perplexity(COMMANDS, list(VOCAB), P)
    assert math.isclose(ppl, math.exp(-total / n_pairs), rel_tol=1e-9), (
        f"perplexity should be exp(-total log-likelihood / 12 pairs) = "
        f"{math.exp(-total / n_pairs):.6f}, got {ppl}"
    )


@question("q5", points=1, hidden=True)
def test_log_likelihood_edge_cases(nb):
    P = _command_matrix()
    one_word = nb.log_likelihood("show", list(VOCAB), P)
    assert one_word == 0.0, f"a one-word sentence has no pairs: log-likelihood 0.0, got {one_word}"
    impossible = nb.log_likelihood("show please", list(VOCAB), P)
    assert impossible == -math.inf, (
        f"'please' never follows 'show', so the log-likelihood is -inf, got {impossible}"
    )
    must_raise(
        lambda: nb.perplexity(["show", ""], list(VOCAB), P), "perplexity of text with no pairs"
    )


# --- Question 6: smoothed_perplexity ------------------------------------------------------


@question("q6", points=1)
def test_smoothing_makes_unseen_pairs_finite(nb):
    train = ["show me my photos please", "show me my files please"]
    unsmoothed = nb.smoothed_perplexity(train, COMMANDS, list(VOCAB), 0.0)
    assert unsmoothed == math.inf, (
        f"'my directories' never occurs in training, so with k=0 the perplexity is inf, "
        f"got {unsmoothed}"
    )
    for k in (0.01, 0.1, 1.0):
        got = nb.smoothed_perplexity(train, COMMANDS, list(VOCAB), k)
        assert math.isfinite(got), f"with k={k} the perplexity should be finite, got {got}"


@question("q6", points=1, hidden=True)
def test_smoothed_perplexity_value(nb):
    train = ["show me my photos please", "show me my files please", "show me my photos please"]
    P = _reference_matrix(_reference_counts(train, VOCAB), 0.1)
    total = sum(
        math.log(P[VOCAB.index(a), VOCAB.index(b)])
        for s in COMMANDS
        for a, b in pairwise(s.split())
    )
    expected = math.exp(-total / 12)
    got = nb.smoothed_perplexity(train, COMMANDS, list(VOCAB), 0.1)
    assert math.isclose(got, expected, rel_tol=1e-9), (
        f"with k=0.1 the perplexity should be {expected:.6f}, got {got}"
    )


# --- Question 7: second_order_counts ------------------------------------------------------


@question("q7", points=2)
def test_second_order_rows_tell_battery_from_program(nb):
    vocab = list(BATTERY_VOCAB)
    n = len(vocab)
    got = nb.second_order_counts(list(BATTERY), vocab)
    assert np.shape(got) == (n * n, n), (
        f"{n} words give {n * n} pair rows of {n} columns: shape ({n * n}, {n}), "
        f"got {np.shape(got)}"
    )
    battery_ran = got[vocab.index("battery") * n + vocab.index("ran")]
    program_ran = got[vocab.index("program") * n + vocab.index("ran")]
    assert battery_ran[vocab.index("down")] == 1 and battery_ran.sum() == 1, (
        f"the pair ('battery', 'ran') is followed once by 'down' and by nothing else; its "
        f"row is {dict(zip(vocab, battery_ran, strict=True))}. Hint: row i * N + j is the "
        "pair (vocab[i], vocab[j])."
    )
    assert program_ran[vocab.index("please")] == 1 and program_ran.sum() == 1, (
        f"the pair ('program', 'ran') is followed once by 'please'; its row is "
        f"{dict(zip(vocab, program_ran, strict=True))}"
    )
    assert got.sum() == 5 + 4, f"the two sentences hold 9 word triples, counted {got.sum()}"


@question("q7", points=1, hidden=True)
def test_second_order_counts_edge_cases(nb):
    vocab = list(BATTERY_VOCAB)
    n = len(vocab)
    got = nb.second_order_counts(["check whether", "the battery ran", "ran ran ran ran"], vocab)
    assert got.sum() == 1 + 2, f"expected 3 triples (1 + 2, none across sentences), got {got.sum()}"
    ran = vocab.index("ran")
    assert got[ran * n + ran, ran] == 2, "('ran', 'ran') is followed by 'ran' twice"
    empty = nb.second_order_counts([], vocab)
    assert np.shape(empty) == (n * n, n) and not np.any(empty), "no sentences: all zeros"
    must_raise(
        lambda: nb.second_order_counts(["check the toaster"], vocab),
        "an unknown word 'toaster'",
        mentioning="toaster",
    )


# --- Question 8: row_entropy --------------------------------------------------------------


@question("q8", points=1)
def test_entropy_of_simple_rows(nb):
    rows = np.array([[1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.25] * 4, [0.4, 0.6, 0, 0]])
    expected = [0.0, 1.0, 2.0, -(0.4 * math.log2(0.4) + 0.6 * math.log2(0.6))]
    got = nb.row_entropy(rows)
    assert np.shape(got) == (4,), f"one entropy per row: shape (4,), got {np.shape(got)}"
    assert_close(
        got,
        expected,
        what="row_entropy of four rows (certain, fair coin, four-way, 0.4/0.6)",
        hint="log base 2, and a zero probability contributes 0 (not nan)",
    )


@question("q8", points=1, hidden=True)
def test_entropy_matches_a_reference_on_random_rows(nb):
    rng = np.random.default_rng(5)
    rows = rng.random((6, 9)) * (rng.random((6, 9)) > 0.4)
    rows[0] = 0
    rows[0, 3] = 1
    rows /= rows.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(rows > 0, -rows * np.log2(rows), 0).sum(axis=1)
    got = np.asarray(nb.row_entropy(rows))
    assert_close(
        got,
        expected,
        what="row_entropy of six random rows with zeros",
        hint="a zero probability contributes 0 bits: use np.where(p > 0, ...)",
    )
