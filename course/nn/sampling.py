"""From a model's scores to the next token (chapter 5): greedy, temperature, top-k, top-p.

Every function takes ``logits`` of shape (..., V), one row of scores per sequence, and
is deterministic given a ``torch.Generator``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def _check_logits(logits: Tensor) -> None:
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError("logits must be a floating-point torch.Tensor of shape (..., V)")
    if logits.ndim == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")


def greedy(logits: Tensor) -> Tensor:
    """The index of the largest score in each row: (...,), int64."""
    _check_logits(logits)
    return logits.argmax(dim=-1)


def apply_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Divide scores by ``temperature`` > 0: below 1 sharpens the distribution, above 1 flattens."""
    _check_logits(logits)
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature!r} (use greedy for 0)")
    return logits / temperature


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest scores of each row, set the rest to ``-inf``: (..., V)."""
    _check_logits(logits)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    k = min(k, logits.shape[-1])
    kth_largest = logits.topk(k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Keep the smallest set of top tokens whose probabilities add up to at least ``p``.

    Nucleus sampling's filter: tokens sorted by probability are kept while the
    probability mass *before* them is below ``p``, so the top token always stays.
    The others' scores become ``-inf``. Shape (..., V), like ``logits``.
    """
    _check_logits(logits)
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got {p!r}")
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # (..., V)
    drop_sorted = mass_before >= p
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def sample(
    logits: Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token index per row of ``logits`` (..., V): (...,), int64.

    Temperature is applied first, then the top-k and top-p filters (either, both or
    neither), then one draw from the softmax of what is left. A temperature of 0
    means greedy decoding.
    """
    _check_logits(logits)
    if temperature == 0:
        return greedy(logits)
    scores = apply_temperature(logits, temperature)
    if top_k is not None:
        scores = top_k_filter(scores, top_k)
    if top_p is not None:
        scores = top_p_filter(scores, top_p)
    probs = torch.softmax(scores.float(), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])  # (rows, V)
    drawn = torch.multinomial(flat, num_samples=1, generator=generator)  # (rows, 1)
    return drawn.reshape(probs.shape[:-1])
