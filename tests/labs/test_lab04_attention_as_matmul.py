"""Graded tests for lab 4, "Attention as matrix multiplication" (20 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour
only. Questions 3 and 4 are judged with the tests' own copy of the chapter's model,
so a slip in questions 1 or 2 does not cost their points twice.
"""

from __future__ import annotations

import time

import torch

from course import data
from course.grading import assert_close, must_raise, probes, question

#: The course modules the notebook may import while graded (the rest is hidden).
COURSE_MODULES = ("data.py",)

SENTENCES = list(data.LONG_RANGE_COMMANDS)
VOCAB = data.vocabulary(SENTENCES)
INDEX = {word: i for i, word in enumerate(VOCAB)}
N = len(VOCAB)
PARAM_NAMES = {"W_Q", "W_K", "W_1", "b_1", "W_2"}


def _encode(sentence: str) -> torch.Tensor:
    return torch.eye(N)[[INDEX[word] for word in data.words(sentence)]]


def _model(x: torch.Tensor, p: dict[str, torch.Tensor]) -> torch.Tensor:
    """The chapter's model with PyTorch's own softmax and ReLU: logits (T, N)."""
    T = x.shape[0]
    scores = (x @ p["W_Q"]) @ (x @ p["W_K"]).T
    future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    blend = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1) @ x
    hidden = torch.relu(torch.cat([x, blend], dim=-1) @ p["W_1"] + p["b_1"])
    return hidden @ p["W_2"]


def _mistakes(p: dict[str, torch.Tensor]) -> list[str]:
    """Positions whose top prediction the language does not allow, as readable strings."""
    allowed: dict[tuple[str, ...], set[str]] = {}
    for sentence in SENTENCES:
        words = data.words(sentence)
        for t in range(len(words) - 1):
            allowed.setdefault(tuple(words[: t + 1]), set()).add(words[t + 1])
    wrong = []
    with torch.no_grad():
        for sentence in SENTENCES:
            words = data.words(sentence)
            logits = _model(_encode(sentence), p)
            for t in range(len(words) - 1):
                guess = VOCAB[int(logits[t].argmax())]
                if guess not in allowed[tuple(words[: t + 1])]:
                    wrong.append(f"after {' '.join(words[: t + 1])!r} it predicts {guess!r}")
    return wrong


def _checked_params(p: object, what: str) -> dict[str, torch.Tensor]:
    assert isinstance(p, dict) and set(p) == PARAM_NAMES, (
        f"{what} should return a dict with keys {sorted(PARAM_NAMES)}, got "
        f"{sorted(p) if isinstance(p, dict) else type(p).__name__}"
    )
    for name, tensor in p.items():
        assert isinstance(tensor, torch.Tensor), f"{what}[{name!r}] should be a torch.Tensor"
    try:
        _model(_encode(SENTENCES[0]), p)
    except RuntimeError as error:
        shapes = {name: tuple(tensor.shape) for name, tensor in p.items()}
        raise AssertionError(f"{what}: the shapes {shapes} do not fit the model: {error}") from None
    return p


# --- Question 1: stable_softmax -------------------------------------------------------


@question("q1", points=2)
def test_softmax_matches_torch_on_random_shapes(nb):
    generator = torch.Generator().manual_seed(4)
    for shape, dim in [((5,), -1), ((3, 7), -1), ((3, 7), 0), ((2, 4, 6), 1)]:
        scores = 3 * torch.randn(shape, generator=generator)
        got = nb.stable_softmax(scores, dim)
        assert isinstance(got, torch.Tensor) and got.shape == scores.shape, (
            f"stable_softmax of shape {shape} should return a tensor of the same shape, got "
            f"{getattr(got, 'shape', type(got).__name__)}"
        )
        assert_close(
            got,
            torch.softmax(scores, dim),
            what=f"stable_softmax(scores, dim={dim}) on shape {shape}, against torch.softmax",
            hint="reduce along `dim` with keepdim=True so the maximum and the sums broadcast back",
            rtol=0,
            atol=1e-6,
        )


@question("q1", points=1)
def test_softmax_survives_huge_scores(nb):
    got = nb.stable_softmax(torch.tensor([1000.0, 999.0, 998.0]))
    expected = torch.softmax(torch.tensor([1000.0, 999.0, 998.0]), -1)
    assert torch.isfinite(got).all(), (
        f"stable_softmax([1000, 999, 998]) gave {got}: exp(1000) overflows. Hint: subtract "
        "the largest score first; it does not change the result."
    )
    assert_close(got, expected, what="stable_softmax([1000, 999, 998])", rtol=0, atol=1e-6)


@question("q1", points=1, hidden=True)
def test_softmax_masks_and_differentiates(nb):
    scores = torch.tensor([[2.0, float("-inf"), 1.0], [-500.0, -501.0, float("-inf")]])
    got = nb.stable_softmax(scores)
    assert_close(
        got,
        torch.softmax(scores, -1),
        what="stable_softmax of rows with -inf (masked) scores",
        hint="exp(-inf - max) is exactly 0: subtract the row's maximum, which is finite",
        rtol=0,
        atol=1e-6,
    )
    logits = torch.randn(3, 4, requires_grad=True)
    weights = torch.randn(3, 4)
    (mine,) = nb.call(probes.input_gradients, nb.stable_softmax, (logits,), weights)
    assert mine is not None, "stable_softmax should be differentiable: no gradient came back"
    (torch.softmax(logits, -1) * weights).sum().backward()
    assert torch.allclose(mine, logits.grad, atol=1e-6), (
        "the gradient through stable_softmax differs from torch.softmax's. Hint: use tensor "
        "operations only (no .item(), no detach)."
    )


# --- Question 2: feature_layer ----------------------------------------------------------


@question("q2", points=2)
def test_feature_layer_matches_linear_then_relu(nb):
    generator = torch.Generator().manual_seed(2)
    for T, D, H in [(1, 1, 1), (4, 6, 3), (12, 26, 15)]:
        inputs = torch.randn(T, D, generator=generator)
        W, b = torch.randn(D, H, generator=generator), torch.randn(H, generator=generator)
        got = nb.feature_layer(inputs, W, b)
        expected = torch.relu(inputs @ W + b)  # checked to 1e-5, as the question says
        assert isinstance(got, torch.Tensor) and got.shape == (T, H), (
            f"inputs {(T, D)}, W {(D, H)}, b {(H,)} should give shape {(T, H)}, got "
            f"{getattr(got, 'shape', type(got).__name__)}"
        )
        assert_close(
            got,
            expected,
            what=f"feature_layer on inputs {(T, D)}, W {(D, H)}, against relu(inputs @ W + b)",
            hint="add the bias before the ReLU",
            rtol=0,
            atol=1e-5,
        )


@question("q2", points=1)
def test_feature_layer_builds_an_and(nb):
    both = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    got = nb.feature_layer(both, torch.ones(2, 1), torch.tensor([-1.0]))
    expected = torch.tensor([[1.0], [0.0], [0.0], [0.0]])
    assert torch.equal(got, expected), (
        f"weights (1, 1) and bias -1 should give the AND truth table {expected.flatten().tolist()}"
        f", got {got.flatten().tolist()}. Hint: the ReLU turns negative values into 0."
    )


@question("q2", points=1, hidden=True)
def test_feature_layer_rejects_shapes_that_do_not_fit(nb):
    nb.feature_layer(torch.ones(3, 4), torch.ones(4, 2), torch.zeros(2))  # valid first
    must_raise(
        lambda: nb.feature_layer(torch.ones(3, 4), torch.ones(5, 2), torch.zeros(2)),
        "feature_layer with inputs (3, 4) and W (5, 2)",
    )
    must_raise(
        lambda: nb.feature_layer(torch.ones(3, 4), torch.ones(4, 2), torch.zeros(3)),
        "feature_layer with W (4, 2) and a bias of 3 entries",
    )


# --- Question 3: hand_set_params ----------------------------------------------------------


@question("q3", points=4)
def test_hand_set_weights_predict_every_position(nb):
    p = _checked_params(nb.hand_set_params(), "hand_set_params()")
    wrong = _mistakes(p)
    assert not wrong, (
        f"{len(wrong)} wrong predictions, e.g. {wrong[:3]}. Hint: the first N rows of W_2 hold "
        "the first-order transitions; the pair features decide what follows 'ran'."
    )


@question("q3", points=2, hidden=True)
def test_hand_set_weights_are_confident_after_ran(nb):
    p = _checked_params(nb.hand_set_params(), "hand_set_params()")
    for sentence in SENTENCES:
        words = data.words(sentence)
        t = words.index("ran")
        with torch.no_grad():
            probs = torch.softmax(_model(_encode(sentence), p)[t], dim=-1)
        right = words[t + 1]
        assert probs[INDEX[right]] >= 0.99, (
            f"in {sentence!r} the word after 'ran' is {right!r}, predicted with probability "
            f"{probs[INDEX[right]]:.3f}; it should be at least 0.99. Hint: sharpen the attention "
            "(larger attention scores) and scale up W_2."
        )


# --- Question 4: train ---------------------------------------------------------------------


@question("q4", points=4)
def test_training_reaches_full_accuracy_quickly(nb):
    for seed in (0, 1):
        start = time.perf_counter()
        p = _checked_params(nb.train(seed, steps=300), f"train({seed})")
        seconds = time.perf_counter() - start
        wrong = _mistakes(p)
        assert not wrong, (
            f"after train({seed}, steps=300), {len(wrong)} predictions are wrong, e.g. "
            f"{wrong[:2]}. Hint: zero the gradients each step, and use Adam with lr=0.03."
        )
        assert seconds < 15, (
            f"train({seed}) took {seconds:.1f} s; the question allows 15 s (the course's own "
            "takes about 2 s). Hint: 300 steps on the two sentences need no more."
        )


@question("q4", points=2, hidden=True)
def test_training_starts_from_a_random_seeded_point(nb):
    start0 = _checked_params(nb.train(0, steps=0), "train(0, steps=0)")
    assert _mistakes(start0), (
        "train(0, steps=0) already solves the language: the starting weights should be random"
    )
    again = nb.train(0, steps=0)
    start1 = nb.train(1, steps=0)
    assert all(torch.equal(start0[k], again[k]) for k in PARAM_NAMES), (
        "train(0, steps=0) gave different weights on two calls: call torch.manual_seed(seed) first"
    )
    assert any(not torch.equal(start0[k], start1[k]) for k in PARAM_NAMES), (
        "seeds 0 and 1 gave the same starting weights: the seed should decide the random start"
    )
    trained = nb.train(0, steps=5)
    assert all(not tensor.requires_grad for tensor in trained.values()), (
        "return the trained tensors detached (tensor.detach()), not still attached to the graph"
    )
