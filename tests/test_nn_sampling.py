"""course.nn.sampling: greedy, temperature, top-k and top-p, checked with fixed seeds."""

from __future__ import annotations

import pytest
import torch

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
