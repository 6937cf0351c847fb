"""course.nn.sampling (greedy, temperature, top-k, top-p) under fixed seeds, and beam search."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from course.nn.beam_search import beam_search, length_penalty
from course.nn.gpt import GPT, GPTConfig
from course.nn.sampling import apply_temperature, greedy, sample, top_k_filter, top_p_filter

LOGITS = torch.log(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]))


def _frequencies(n: int = 20000, **options: object) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    draws = sample(LOGITS.expand(n, -1), generator=generator, **options)  # type: ignore[arg-type]
    return torch.bincount(draws, minlength=5).float() / n


def test_greedy_takes_the_argmax_of_each_row() -> None:
    logits = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 2.9]])
    assert torch.equal(greedy(logits), torch.tensor([1, 0]))
    assert torch.equal(sample(logits, temperature=0), torch.tensor([1, 0]))


def test_plain_sampling_matches_the_softmax() -> None:
    freqs = _frequencies()
    torch.testing.assert_close(freqs, torch.softmax(LOGITS, -1), atol=0.015, rtol=0)


def test_temperature_sharpens_and_flattens() -> None:
    cold, hot = _frequencies(temperature=0.25), _frequencies(temperature=4.0)
    assert cold[0] > 0.9 and hot[0] < 0.35
    torch.testing.assert_close(apply_temperature(LOGITS, 2.0), LOGITS / 2)
    with pytest.raises(ValueError, match="positive"):
        apply_temperature(LOGITS, -1.0)


def test_top_k_keeps_k_tokens() -> None:
    filtered = top_k_filter(LOGITS, 2)
    assert torch.isfinite(filtered).tolist() == [True, True, False, False, False]
    freqs = _frequencies(top_k=2)
    torch.testing.assert_close(freqs[:2], torch.tensor([5 / 7, 2 / 7]), atol=0.015, rtol=0)
    assert freqs[2:].sum() == 0
    assert torch.isfinite(top_k_filter(LOGITS, 99)).all()
    with pytest.raises(ValueError, match="positive integer"):
        top_k_filter(LOGITS, 0)


def test_top_p_keeps_the_nucleus() -> None:
    assert torch.isfinite(top_p_filter(LOGITS, 0.6)).tolist() == [True, True, False, False, False]
    assert torch.isfinite(top_p_filter(LOGITS, 0.71)).tolist() == [True, True, True, False, False]
    assert torch.isfinite(top_p_filter(LOGITS, 0.01)).tolist() == [True, False, False, False, False]
    shuffled = LOGITS[[3, 0, 4, 1, 2]]
    assert torch.isfinite(top_p_filter(shuffled, 0.6)).tolist() == [False, True, False, True, False]
    freqs = _frequencies(top_p=0.6)
    assert freqs[2:].sum() == 0
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        top_p_filter(LOGITS, 0.0)


def test_sampling_is_reproducible_with_a_generator_and_rejects_bad_logits() -> None:
    first = sample(LOGITS.expand(50, -1), generator=torch.Generator().manual_seed(3))
    second = sample(LOGITS.expand(50, -1), generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, second) and first.shape == (50,)
    with pytest.raises(TypeError):
        sample(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError):
        sample(torch.empty(0))


# --- beam search ---------------------------------------------------------------------------


def _table_model(probabilities: list[list[float]]):
    """A bigram model: row i of the table holds the next-token probabilities after token i."""
    log_table = torch.tensor(probabilities, dtype=torch.float64).log()
    return lambda ids: log_table[ids]  # (B, T) -> (B, T, V)


def _exhaustive_best(log_table: torch.Tensor, start: int, steps: int) -> tuple[tuple, float]:
    """The most probable `steps`-token continuation of `start`, by trying them all."""
    scored = []
    for tokens in itertools.product(range(log_table.shape[0]), repeat=steps):
        previous = (start, *tokens[:-1])
        scored.append(
            (tokens, sum(float(log_table[a, b]) for a, b in zip(previous, tokens, strict=True)))
        )
    return max(scored, key=lambda pair: pair[1])


def test_beam_width_one_is_greedy_decoding() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=1, n_head=2, d_model=16)).eval()
    prompt = torch.tensor([3, 1, 4])
    ids = prompt[None]
    with torch.no_grad():
        for _ in range(8):
            ids = torch.cat([ids, greedy(model(ids)[:, -1])[:, None]], dim=1)  # (1, T + 1)
    (only,) = beam_search(model, prompt, width=1, max_new_tokens=8)
    assert list(only.tokens) == ids[0, 3:].tolist()
    with torch.no_grad():
        log_probs = torch.log_softmax(model(ids).double(), -1)[0, 2:-1]  # (8, V)
    assert only.log_prob == pytest.approx(float(log_probs.gather(1, ids[0, 3:, None]).sum()))


def test_beam_search_finds_the_exhaustive_optimum() -> None:
    generator = torch.Generator().manual_seed(1)
    for _ in range(5):  # a width of V ** (steps - 1) keeps every prefix: the search is exact
        scores = 3 * torch.randn(3, 3, generator=generator, dtype=torch.float64)
        log_table = torch.log_softmax(scores, -1)
        tokens, log_prob = _exhaustive_best(log_table, start=0, steps=4)
        model = _table_model(log_table.exp().tolist())
        best = beam_search(model, torch.tensor([0]), width=27, max_new_tokens=4)[0]
        assert best.tokens == tokens and best.log_prob == pytest.approx(log_prob)
    # a case where greedy misses the optimum and a beam of two finds it
    model = _table_model([[0.1, 0.5, 0.4], [0.6, 0.2, 0.2], [0.05, 0.05, 0.9]])
    greedy_path = beam_search(model, torch.tensor([0]), width=1, max_new_tokens=2)[0]
    beam_path = beam_search(model, torch.tensor([0]), width=2, max_new_tokens=2)[0]
    assert greedy_path.tokens == (1, 0) and math.exp(greedy_path.log_prob) == pytest.approx(0.3)
    assert beam_path.tokens == (2, 2) and math.exp(beam_path.log_prob) == pytest.approx(0.36)


def test_length_normalisation_changes_the_winner() -> None:
    # token 0 ends; after the prompt (token 1): end 0.45 or token 2 at 0.5; after 2: end 0.8
    model = _table_model([[1 / 3] * 3, [0.45, 0.05, 0.5], [0.8, 0.15, 0.05]])
    search = dict(width=2, max_new_tokens=3, end_token=0)
    plain = beam_search(model, torch.tensor([1]), alpha=0.0, **search)
    normalised = beam_search(model, torch.tensor([1]), alpha=1.0, **search)
    assert plain[0].tokens == (0,) and math.exp(plain[0].log_prob) == pytest.approx(0.45)
    assert normalised[0].tokens == (2, 0) and math.exp(normalised[0].log_prob) == pytest.approx(0.4)
    assert normalised[0].score == pytest.approx(math.log(0.4) / length_penalty(2, 1.0))
    assert length_penalty(1, 1.0) == 1.0 and length_penalty(7, 0.0) == 1.0
    assert [h.score for h in plain] == sorted((h.score for h in plain), reverse=True)
    with pytest.raises(ValueError, match="width"):
        beam_search(model, torch.tensor([1]), width=0, max_new_tokens=3)
