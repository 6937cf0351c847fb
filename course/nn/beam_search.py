"""Beam search (chapter 5): keep the ``width`` most probable continuations at every step.

Greedy decoding keeps one sequence; beam search keeps ``width`` of them, extends each
by every token, and keeps the ``width`` children with the highest total log-probability.
It works with any ``model`` that maps token ids (B, T) to next-token logits (B, T, V),
such as :class:`course.nn.gpt.GPT`.

Finished hypotheses (those that produced ``end_token``) are compared with a length
penalty, GNMT's (Wu et al., 2016):  ``score = log P(y) / ((5 + |y|) / 6) ** alpha``, where
``|y|`` counts the new tokens. ``alpha = 0`` ranks by the plain sum of log-probabilities,
which favours short outputs; ``alpha = 1`` is close to the mean log-probability per token.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Model = Callable[[Tensor], Tensor]  # ids (B, T) -> logits (B, T, V)


@dataclass(frozen=True)
class Hypothesis:
    """One candidate output: its new tokens, their total log-probability and its score."""

    tokens: tuple[int, ...]
    log_prob: float
    score: float


def length_penalty(n_tokens: int, alpha: float) -> float:
    """GNMT's length penalty ((5 + n) / 6) ** alpha; a score is log P divided by it."""
    return ((5 + n_tokens) / 6) ** alpha


def _hypothesis(tokens: list[int], log_prob: float, alpha: float) -> Hypothesis:
    return Hypothesis(tuple(tokens), log_prob, log_prob / length_penalty(len(tokens), alpha))


@torch.no_grad()
def beam_search(
    model: Model,
    prompt: Tensor,
    *,
    width: int,
    max_new_tokens: int,
    alpha: float = 0.0,
    end_token: int | None = None,
) -> list[Hypothesis]:
    """Search continuations of ``prompt`` (T,); return the hypotheses, best score first.

    Each step scores all children of the live beams by total log-probability and keeps
    the ``width`` best. A kept child that ends with ``end_token`` is finished: it leaves
    the beam, which narrows. The search stops after ``max_new_tokens`` or when no live
    beam is left; the finished and live hypotheses are then ranked by score (the length
    penalty only matters there: live beams always have the same length).
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"width must be a positive integer, got {width!r}")
    if prompt.ndim != 1 or len(prompt) == 0:
        raise ValueError(f"prompt must be a non-empty 1-D tensor of ids, got {tuple(prompt.shape)}")
    live: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[Hypothesis] = []
    for _ in range(max_new_tokens):
        ids = torch.stack([torch.cat([prompt, prompt.new_tensor(new)]) for new, _ in live])
        log_probs = torch.log_softmax(model(ids)[:, -1].double(), dim=-1)  # (B, V)
        totals = torch.tensor([lp for _, lp in live], dtype=torch.float64)[:, None] + log_probs
        n_kept = min(width, totals.numel())
        best = totals.flatten().topk(n_kept)  # children of every beam compete together
        vocab_size = log_probs.shape[-1]
        next_live = []
        for total, flat in zip(best.values.tolist(), best.indices.tolist(), strict=True):
            parent, token = divmod(flat, vocab_size)
            tokens = live[parent][0] + [token]
            if token == end_token:
                finished.append(_hypothesis(tokens, total, alpha))
            else:
                next_live.append((tokens, total))
        live = next_live
        if not live:
            break
    ranked = finished + [_hypothesis(tokens, lp, alpha) for tokens, lp in live]
    return sorted(ranked, key=lambda h: h.score, reverse=True)
