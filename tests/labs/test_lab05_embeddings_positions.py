"""Graded tests for lab 5, "Embeddings, positions and choosing words" (27 points).

Each test receives `nb`, the executed notebook's namespace, and checks behaviour
only: values against PyTorch and the course's references, shapes, dtypes, the errors
raised on bad input, and sampling statistics under fixed seeds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import nn

from course.grading import assert_close, must_raise, question
from course.nn.beam_search import beam_search as reference_beam_search
from course.nn.positions import apply_rope, sinusoidal_encoding

PROBS = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05])
LOGITS = torch.log(PROBS)


def _frequencies(draw: Callable[[torch.Tensor, torch.Generator], torch.Tensor]) -> torch.Tensor:
    """Share of each of the 5 tokens over 20,000 rows sampled under seed 0."""
    draws = draw(LOGITS.expand(20_000, -1), torch.Generator().manual_seed(0))
    assert isinstance(draws, torch.Tensor) and draws.shape == (20_000,), (
        f"sampling 20,000 rows should give 20,000 indices, got "
        f"{getattr(draws, 'shape', type(draws).__name__)}"
    )
    return torch.bincount(draws.long(), minlength=5).float() / 20_000


def _kept(filtered: torch.Tensor) -> list[bool]:
    return torch.isfinite(filtered).tolist()


# --- Question 1: embed ------------------------------------------------------------------


@question("q1", points=3)
def test_embed_equals_nn_embedding(nb):
    generator = torch.Generator().manual_seed(1)
    for V, d, T in [(4, 3, 1), (13, 2, 12), (50, 16, 30)]:
        layer = nn.Embedding(V, d)
        with torch.no_grad():
            layer.weight.copy_(torch.randn(V, d, generator=generator))
        ids = torch.randint(0, V, (T,), generator=generator)
        got = nb.embed(ids, layer.weight.detach())
        expected = layer(ids).detach()
        assert isinstance(got, torch.Tensor) and got.shape == (T, d), (
            f"embed of {T} ids into a ({V}, {d}) table should have shape ({T}, {d}), got "
            f"{getattr(got, 'shape', type(got).__name__)}"
        )
        assert got.dtype == expected.dtype, f"embed should keep the table's dtype, got {got.dtype}"
        assert_close(
            got,
            expected,
            what=f"embed of {T} ids into a ({V}, {d}) table, against nn.Embedding",
            hint="row t of the one-hot matrix has its 1 in column ids[t]",
            rtol=0,
            atol=1e-6,
        )


@question("q1", points=1, hidden=True)
def test_embed_rejects_ids_outside_the_table(nb):
    table = torch.zeros(5, 2)
    nb.embed(torch.tensor([0, 4]), table)  # a valid call returns first
    must_raise(lambda: nb.embed(torch.tensor([0, 5]), table), "embed of id 5", "5")
    must_raise(lambda: nb.embed(torch.tensor([-1]), table), "embed of id -1", "-1")


# --- Question 2: sinusoidal -----------------------------------------------------------------


@question("q2", points=3)
def test_sinusoidal_matches_the_formula(nb):
    for n, d in [(1, 2), (10, 8), (64, 32)]:
        got = nb.sinusoidal(n, d)
        assert isinstance(got, torch.Tensor) and got.shape == (n, d), (
            f"sinusoidal({n}, {d}) should have shape ({n}, {d}), got "
            f"{getattr(got, 'shape', type(got).__name__)}"
        )
        assert got.dtype == torch.float32, f"sinusoidal should be float32, got {got.dtype}"
        expected = sinusoidal_encoding(n, d)
        assert_close(
            got,
            expected,
            what=f"sinusoidal({n}, {d}) (row = position, column = feature)",
            hint="sin in even columns, cos in odd ones, w_i = 10000 ** (-2i / d_model)",
            rtol=0,
            atol=1e-5,
        )


@question("q2", points=1, hidden=True)
def test_sinusoidal_rejects_odd_width(nb):
    nb.sinusoidal(4, 6)  # a valid call returns first
    must_raise(lambda: nb.sinusoidal(4, 5), "sinusoidal(4, 5)")


# --- Question 3: rope -----------------------------------------------------------------------


@question("q3", points=3)
def test_rope_scores_depend_only_on_the_offset(nb):
    generator = torch.Generator().manual_seed(3)
    q = torch.randn(1, 16, generator=generator, dtype=torch.float64)
    k = torch.randn(1, 16, generator=generator, dtype=torch.float64)

    def score(m: int, n: int) -> float:
        rotated_q = nb.rope(q, torch.tensor([m]))
        rotated_k = nb.rope(k, torch.tensor([n]))
        return float((rotated_q @ rotated_k.T).item())

    for m, n, shift in [(3, 1, 7), (10, 4, 90), (0, 5, 33), (20, 20, 400)]:
        a, b = score(m, n), score(m + shift, n + shift)
        # 1e-4: frequencies computed in float32 (the common idiom) are off by about 1e-6
        assert math.isclose(a, b, abs_tol=1e-4), (
            f"score(q at {m}, k at {n}) = {a:.6f} but score(q at {m + shift}, k at {n + shift}) = "
            f"{b:.6f}: with RoPE they should be equal. Hint: rotate both members of each pair by "
            "the same angle, as in the formula."
        )
    assert not math.isclose(score(3, 1), score(3, 0), abs_tol=1e-6), (
        "different offsets gave the same score: are the vectors rotated at all?"
    )


@question("q3", points=2, hidden=True)
def test_rope_matches_the_reference_rotation(nb):
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(4))
    positions = torch.tensor([0, 1, 2, 7, 30, 1000])
    got = nb.rope(x, positions)
    assert got.shape == x.shape and got.dtype == x.dtype, (
        f"rope should keep shape {tuple(x.shape)} and dtype {x.dtype}, got "
        f"{tuple(got.shape)} {got.dtype}"
    )
    assert torch.allclose(got.norm(dim=-1), x.norm(dim=-1), atol=1e-5), (
        "rope changed the lengths of the vectors: a rotation must keep them"
    )
    assert_close(
        got,
        apply_rope(x, positions),
        what="rope of 6 rows at positions [0, 1, 2, 7, 30, 1000]",
        hint="position 0 must leave a vector unchanged and pair i turns by position * w_i",
        rtol=0,
        atol=1e-5,
    )


@question("q3", points=1, hidden=True)
def test_rope_rejects_odd_width(nb):
    nb.rope(torch.zeros(2, 4), torch.arange(2))  # a valid call returns first
    must_raise(lambda: nb.rope(torch.zeros(2, 5), torch.arange(2)), "rope of width 5")


# --- Question 4: samplers -------------------------------------------------------------------


@question("q4", points=1)
def test_greedy_takes_each_rows_argmax(nb):
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    got = nb.greedy(logits)
    assert torch.equal(got, torch.tensor([1, 0])), f"greedy of two rows should be [1, 0], got {got}"
    single = nb.greedy(LOGITS)
    assert single.shape == () and int(single) == 0, f"greedy of one row should be 0, got {single}"


@question("q4", points=2)
def test_temperature_sampling_follows_the_softmax(nb):
    plain = _frequencies(lambda rows, g: nb.sample_temperature(rows, 1.0, g))
    assert torch.allclose(plain, PROBS, atol=0.015), (
        f"at temperature 1 the frequencies {plain.tolist()} should be close to the "
        f"probabilities {PROBS.tolist()}"
    )
    cold = _frequencies(lambda rows, g: nb.sample_temperature(rows, 0.25, g))
    hot = _frequencies(lambda rows, g: nb.sample_temperature(rows, 4.0, g))
    expected_cold = torch.softmax(LOGITS / 0.25, -1)
    expected_hot = torch.softmax(LOGITS / 4.0, -1)
    assert torch.allclose(cold, expected_cold, atol=0.015), (
        f"at temperature 0.25 expected about {expected_cold.tolist()}, got {cold.tolist()}. "
        "Hint: divide the logits by the temperature (a low temperature sharpens)."
    )
    assert torch.allclose(hot, expected_hot, atol=0.015), (
        f"at temperature 4 expected about {expected_hot.tolist()}, got {hot.tolist()}"
    )


@question("q4", points=1, hidden=True)
def test_temperature_sampling_is_seeded_and_checked(nb):
    rows = LOGITS.expand(100, -1)
    first = nb.sample_temperature(rows, 1.0, torch.Generator().manual_seed(7))
    again = nb.sample_temperature(rows, 1.0, torch.Generator().manual_seed(7))
    assert torch.equal(first, again), "the same generator seed should give the same draws"
    must_raise(lambda: nb.sample_temperature(LOGITS, 0.0), "temperature 0")


@question("q4", points=1)
def test_top_k_keeps_the_k_largest(nb):
    shuffled = LOGITS[[3, 0, 4, 1, 2]]
    got = nb.top_k(shuffled, 2)
    assert _kept(got) == [False, True, False, True, False], (
        f"top_k(logits, 2) should keep the two largest scores (positions 1 and 3 here), kept "
        f"{_kept(got)}"
    )
    assert torch.equal(got[[1, 3]], shuffled[[1, 3]]), "top_k must not change the kept scores"
    assert all(_kept(nb.top_k(LOGITS, 10))), "k larger than the vocabulary keeps everything"
    rows = nb.top_k(torch.stack([LOGITS, LOGITS.flip(0)]), 1)
    assert _kept(rows) == [[True] + [False] * 4, [False] * 4 + [True]], (
        "top_k works row by row on (B, V) logits"
    )


@question("q4", points=1, hidden=True)
def test_top_p_keeps_the_nucleus(nb):
    cases = {0.6: 2, 0.71: 3, 0.01: 1, 1.0: 5}
    for p, size in cases.items():
        got = _kept(nb.top_p(LOGITS, p))
        assert got == [True] * size + [False] * (5 - size), (
            f"with probabilities {PROBS.tolist()}, top_p(logits, {p}) should keep the first "
            f"{size} tokens, kept {got}. Hint: keep a token while the mass ranked above it is "
            "below p."
        )
    shuffled = LOGITS[[3, 0, 4, 1, 2]]
    got = _kept(nb.top_p(shuffled, 0.6))
    assert got == [False, True, False, True, False], (
        f"top_p must give the answer in the original order of the vocabulary, kept {got}"
    )


# --- Question 5: beam search ----------------------------------------------------------------


def _random_log_table(V: int, seed: int) -> torch.Tensor:
    """A bigram model's table, sharp enough that beam search and greedy disagree: (V, V)."""
    scores = 3 * torch.randn(V, V, generator=torch.Generator().manual_seed(seed))
    return torch.log_softmax(scores.double(), dim=-1)


def _expected_beams(log_table: torch.Tensor, prompt: list[int], **search: object) -> list:
    """The reference beam search on the same table: [(tokens, score)], best first."""
    hypotheses = reference_beam_search(lambda ids: log_table[ids], torch.tensor(prompt), **search)
    return [(list(h.tokens), h.score) for h in hypotheses]


def _check_beams(nb, log_table: torch.Tensor, prompt: list[int], what: str, hint: str,
                 *, width: int, max_new_tokens: int, alpha: float = 0.0,
                 end_id: int | None = None) -> list:  # fmt: skip
    model = nb.bigram_model(log_table)
    ids = torch.tensor([[0, 1], [2, 0]]) % log_table.shape[0]
    assert torch.equal(model(ids), log_table[ids]), "bigram_model must return log_table[ids]"
    got = nb.beam_search(model, torch.tensor(prompt), width, max_new_tokens, alpha, end_id)
    expected = _expected_beams(
        log_table, prompt, width=width, max_new_tokens=max_new_tokens, alpha=alpha,
        end_token=end_id,
    )  # fmt: skip
    shown = [(tokens, round(score, 4)) for tokens, score in expected]
    assert isinstance(got, list) and all(
        isinstance(pair, tuple | list) and len(pair) == 2 for pair in got
    ), f"beam_search should return a list of (tokens, score) pairs, got {got!r}"
    got_tokens = [list(map(int, tokens)) for tokens, _ in got]
    assert got_tokens == [tokens for tokens, _ in expected], (
        f"{what}: expected the beams {shown}, got {[(t, round(float(s), 4)) for t, s in got]}. "
        f"Hint: {hint}"
    )
    for (tokens, score), (_, expected_score) in zip(got, expected, strict=True):
        assert math.isclose(float(score), expected_score, abs_tol=1e-6), (
            f"{what}: the beam {list(tokens)} should score {expected_score:.6f}, got "
            f"{float(score):.6f}. Hint: {hint}"
        )
    return expected


@question("q5", points=3)
def test_beam_search_matches_the_reference_beams(nb):
    hint = "keep the width best children of all live beams together, by total log-probability"
    for V, seed, prompt, width, steps in [
        (4, 0, [1], 1, 4),
        (5, 1, [0, 3], 2, 4),
        (6, 2, [2], 3, 5),
    ]:
        _check_beams(
            nb, _random_log_table(V, seed), prompt, f"a beam of width {width} on a random "
            f"{V}-token table, {steps} steps from {prompt}", hint, width=width,
            max_new_tokens=steps,
        )  # fmt: skip
    # with width V ** (steps - 1) the beam keeps every prefix: it must find the optimum
    log_table = _random_log_table(3, 5)
    every = itertools.product(range(3), repeat=3)
    optimum = max(every, key=lambda t: float(log_table[(1, *t[:-1]), t].sum()))
    best = nb.beam_search(nb.bigram_model(log_table), torch.tensor([1]), 9, 3)[0]
    assert list(best[0]) == list(optimum), (
        f"a beam of width 9 over 3 tokens and 3 steps tries every sequence: its best should "
        f"be the exhaustive optimum {list(optimum)}, got {list(best[0])}"
    )


@question("q5", points=1)
def test_beam_search_finds_a_likelier_sentence_than_greedy(nb):
    probs = torch.tensor([[0.1, 0.5, 0.4], [0.6, 0.2, 0.2], [0.05, 0.05, 0.9]])
    log_table = probs.double().log()
    greedy_beam = _check_beams(
        nb, log_table, [0], "width 1 (greedy decoding)", "width 1 keeps the best child only",
        width=1, max_new_tokens=2,
    )  # fmt: skip
    wide_beam = _check_beams(
        nb, log_table, [0], "width 2 on a table where greedy misses the best sentence",
        "a beam keeps the width best children of *all* live beams, not of the best one",
        width=2, max_new_tokens=2,
    )  # fmt: skip
    assert greedy_beam[0][0] != wide_beam[0][0]  # the case really tells them apart


@question("q5", points=2, hidden=True)
def test_beam_search_end_token_and_length_penalty(nb):
    # token 0 ends; from 1, ending at once (0.45) beats [2, 0] (0.4) unless normalised
    probs = torch.tensor([[1 / 3] * 3, [0.45, 0.05, 0.5], [0.8, 0.15, 0.05]])
    log_table = probs.double().log()
    hint = "score = total log-probability / ((5 + n) / 6) ** alpha, n counting the end token"
    for alpha, winner in [(0.0, [0]), (1.0, [2, 0]), (0.6, None)]:
        expected = _check_beams(
            nb, log_table, [1], f"width 2, end token 0, alpha = {alpha}", hint,
            width=2, max_new_tokens=3, alpha=alpha, end_id=0,
        )  # fmt: skip
        assert winner is None or expected[0][0] == winner
    _check_beams(
        nb, _random_log_table(5, 7), [4], "width 3, end token 2, alpha = 0.7 on a random "
        "table", hint, width=3, max_new_tokens=6, alpha=0.7, end_id=2,
    )  # fmt: skip


@question("q5", points=1, hidden=True)
def test_beam_search_rejects_an_empty_beam(nb):
    model = nb.bigram_model(_random_log_table(3, 0))
    nb.beam_search(model, torch.tensor([0]), 1, 2)  # a valid call returns first
    must_raise(lambda: nb.beam_search(model, torch.tensor([0]), 0, 2), "beam_search of width 0")
