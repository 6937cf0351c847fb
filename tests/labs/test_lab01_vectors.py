"""Graded tests for lab 1, "From words to vectors" (20 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour
only: values, shapes, dtypes and the errors raised on bad input.
"""

from __future__ import annotations

import math

import numpy as np

from course.grading import assert_close, must_raise, question

COMMANDS = [
    "show me my directories please",
    "show me my files please",
    "show me my photos please",
]
VOCAB = ["directories", "files", "me", "my", "photos", "please", "show"]
TOLERANCE = 1e-9  # the questions promise agreement with NumPy to 1e-9


def _random_matrix(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    return rng.standard_normal((rows, cols))


# --- Question 1: build_vocabulary -------------------------------------------------


@question("q1", points=2)
def test_vocabulary_of_the_commands(nb):
    got = nb.build_vocabulary(list(COMMANDS))
    assert list(got) == VOCAB, (
        f"build_vocabulary(COMMANDS) should be {VOCAB}, got {got!r}. "
        "Hint: collect the words in a set, then sort them."
    )


@question("q1", points=1, hidden=True)
def test_vocabulary_lowercases_and_handles_empty_input(nb):
    got = nb.build_vocabulary(["Show  ME\tthe Files", "the files"])
    assert list(got) == ["files", "me", "show", "the"], (
        f"expected lower-case, distinct, sorted words ['files', 'me', 'show', 'the'], "
        f"got {got!r}. Hint: lower-case each sentence and split on any whitespace."
    )
    empty = nb.build_vocabulary([])
    assert list(empty) == [], f"no sentences should give an empty vocabulary, got {empty!r}"


# --- Question 2: one_hot ------------------------------------------------------------


@question("q2", points=2)
def test_one_hot_marks_the_word_index(nb):
    for index, word in enumerate(VOCAB):
        got = nb.one_hot(word, list(VOCAB))
        assert isinstance(got, np.ndarray), f"one_hot should return a NumPy array, got {type(got)}"
        assert got.shape == (len(VOCAB),), (
            f"one_hot({word!r}, vocab) should have shape ({len(VOCAB)},), got {got.shape}"
        )
        assert got.dtype == np.float64, f"one_hot should be float64, got {got.dtype}"
        expected = np.eye(len(VOCAB))[index]
        assert np.array_equal(got, expected), (
            f"one_hot({word!r}) should be {expected}, got {got}: the 1.0 belongs at index "
            f"{index}, the word's position in the vocabulary."
        )


@question("q2", points=1, hidden=True)
def test_one_hot_rejects_unknown_words(nb):
    nb.one_hot(VOCAB[0], list(VOCAB))  # a valid call returns first
    must_raise(lambda: nb.one_hot("cat", list(VOCAB)), "one_hot('cat', vocab)", mentioning="cat")


# --- Question 3: encode and decode -------------------------------------------------


@question("q3", points=2)
def test_encode_stacks_one_hot_rows(nb):
    got = nb.encode("show me my files please", list(VOCAB))
    expected = np.eye(len(VOCAB))[[6, 2, 3, 1, 5]]
    assert isinstance(got, np.ndarray), f"encode should return a NumPy array, got {type(got)}"
    assert got.shape == expected.shape, (
        f"a 5-word sentence over a 7-word vocabulary should encode to shape (5, 7), got {got.shape}"
    )
    assert np.array_equal(got, expected), (
        "row t of encode(...) should be the one-hot vector of word t, in sentence order"
    )


@question("q3", points=1)
def test_decode_inverts_encode(nb):
    for sentence in [*COMMANDS, "Please show me my photos"]:
        got = nb.decode(nb.encode(sentence, list(VOCAB)), list(VOCAB))
        assert got == sentence.lower(), (
            f"decode(encode(s)) should give back {sentence.lower()!r}, got {got!r}"
        )


@question("q3", points=1, hidden=True)
def test_decode_rejects_matrices_that_are_not_one_hot(nb):
    bad_matrices = {
        "a row with two ones": np.array([[1.0, 1.0, 0, 0, 0, 0, 0]]),
        "a row of zeros": np.zeros((1, len(VOCAB))),
        "a row with a 0.5": np.array([[0.5, 0, 0, 0, 0, 0.5, 0]]),
        "rows of the wrong length": np.eye(3),
    }
    nb.decode(np.eye(len(VOCAB))[:2], list(VOCAB))  # a valid call returns first
    for name, matrix in bad_matrices.items():
        must_raise(lambda m=matrix: nb.decode(m, list(VOCAB)), f"decode of {name}")


# --- Question 4: dot ----------------------------------------------------------------


@question("q4", points=2)
def test_dot_matches_numpy(nb):
    assert nb.dot(np.array([1.0, 3.0, 5.0]), np.array([4.0, 2.0, 1.0])) == 15.0, (
        "dot([1, 3, 5], [4, 2, 1]) should be 1*4 + 3*2 + 5*1 = 15"
    )
    rng = np.random.default_rng(1)
    for length in (1, 2, 7, 50):
        a, b = rng.standard_normal(length), rng.standard_normal(length)
        got = nb.dot(a, b)
        assert isinstance(got, float), f"dot should return a float, got {type(got)}"
        assert math.isclose(got, float(np.dot(a, b)), rel_tol=TOLERANCE, abs_tol=TOLERANCE), (
            f"dot of two random vectors of length {length}: expected {np.dot(a, b)}, got {got}"
        )


@question("q4", points=1, hidden=True)
def test_dot_rejects_different_lengths(nb):
    nb.dot(np.ones(3), np.ones(3))  # a valid call returns first
    must_raise(lambda: nb.dot(np.ones(3), np.ones(4)), "dot of lengths 3 and 4")


# --- Question 5: matmul -------------------------------------------------------------


@question("q5", points=2)
def test_matmul_matches_numpy_on_random_shapes(nb):
    rng = np.random.default_rng(2)
    for m, k, n in [(1, 1, 1), (2, 3, 2), (3, 2, 4), (5, 7, 1), (1, 6, 3)]:
        A, B = _random_matrix(rng, m, k), _random_matrix(rng, k, n)
        got = nb.matmul(A, B)
        assert np.shape(got) == (m, n), (
            f"({m}, {k}) @ ({k}, {n}) should be ({m}, {n}), got {np.shape(got)}"
        )
        assert_close(
            got,
            A @ B,
            what=f"matmul on shapes ({m}, {k}) @ ({k}, {n}), against A @ B",
            hint="entry (i, j) is row i of A dotted with column j of B",
            rtol=TOLERANCE,
            atol=TOLERANCE,
        )


@question("q5", points=1, hidden=True)
def test_matmul_rejects_mismatched_inner_sizes(nb):
    nb.matmul(np.ones((2, 3)), np.ones((3, 2)))  # a valid call returns first
    must_raise(
        lambda: nb.matmul(np.ones((2, 3)), np.ones((2, 3))),
        "matmul of (2, 3) by (2, 3)",
        mentioning="(2, 3)",
    )


# --- Question 6: lookup -------------------------------------------------------------


@question("q6", points=1)
def test_lookup_equals_row_indexing(nb):
    rng = np.random.default_rng(3)
    table = rng.standard_normal((len(VOCAB), 4))
    sentence = "please show me my photos"
    got = nb.lookup(sentence, list(VOCAB), table)
    expected = table[[VOCAB.index(w) for w in sentence.split()]]
    assert np.shape(got) == (5, 4), (
        f"5 words and a table of width 4 give shape (5, 4), got {np.shape(got)}"
    )
    assert_close(
        got,
        expected,
        what=f"lookup({sentence!r}, vocab, table)",
        hint="row t of the result is the table row of word t: encode, then matmul",
        rtol=TOLERANCE,
        atol=TOLERANCE,
    )


@question("q6", points=1, hidden=True)
def test_lookup_rejects_a_table_of_the_wrong_height(nb):
    nb.lookup("show me", list(VOCAB), np.ones((len(VOCAB), 2)))  # valid first
    must_raise(
        lambda: nb.lookup("show me", list(VOCAB), np.ones((len(VOCAB) + 1, 2))),
        "lookup with a table of 8 rows for 7 words",
    )


# --- Question 7: cosine_similarity -------------------------------------------------


@question("q7", points=1)
def test_cosine_similarity_values(nb):
    cases = [
        ([1.0, 0.0], [1.0, 1.0], 1 / np.sqrt(2)),
        ([1.0, 0.0], [0.0, 3.0], 0.0),
        ([2.0, 2.0], [-1.0, -1.0], -1.0),
    ]
    for u, v, expected in cases:
        got = nb.cosine_similarity(np.array(u), np.array(v))
        assert math.isclose(got, expected, abs_tol=TOLERANCE), (
            f"cosine_similarity({u}, {v}) should be {expected:.6f}, got {got}. "
            "Hint: divide the dot product by both lengths."
        )


@question("q7", points=1, hidden=True)
def test_cosine_similarity_ignores_length_and_rejects_zero(nb):
    rng = np.random.default_rng(4)
    u, v = rng.standard_normal(6), rng.standard_normal(6)
    base = nb.cosine_similarity(u, v)
    scaled = nb.cosine_similarity(5.0 * u, 0.25 * v)
    assert math.isclose(scaled, base, rel_tol=1e-9), (
        f"scaling a vector must not change the cosine: {base} vs {scaled}"
    )
    must_raise(
        lambda: nb.cosine_similarity(np.zeros(3), np.ones(3)),
        "cosine_similarity with a zero vector",
    )
