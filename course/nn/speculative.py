"""Greedy speculative decoding (chapter 10): a small draft model guesses, the target checks.

The draft proposes ``k`` tokens one by one; the target scores all of them in a single
forward pass and keeps the longest prefix that matches its own greedy choices, plus
one token of its own. The output is exactly the target's greedy output.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course.nn.gpt import GPT
from course.nn.kv_cache import generate
from course.nn.sampling import greedy


@dataclass(frozen=True)
class SpeculativeResult:
    """The generated sequence (B, T + new), and the draft tokens proposed and accepted."""

    tokens: Tensor
    proposed: int
    accepted: int
    target_calls: int

    @property
    def acceptance_rate(self) -> float:
        """Accepted over proposed draft tokens (0 when none was proposed)."""
        return self.accepted / self.proposed if self.proposed else 0.0


@torch.no_grad()
def speculative_generate(
    target: GPT, draft: GPT, idx: Tensor, max_new_tokens: int, *, k: int = 4
) -> SpeculativeResult:
    """``max_new_tokens`` greedy tokens of ``target`` after the prompt ``idx`` (1, T)."""
    if idx.dim() != 2 or idx.shape[0] != 1:
        shape = tuple(idx.shape)
        raise ValueError(f"speculative decoding takes one prompt (1, T), got {shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    end = idx.shape[1] + max_new_tokens
    if end > min(target.config.block_size, draft.config.block_size):
        raise ValueError(f"{end} positions exceed a model's block_size")
    proposed = accepted = calls = 0
    while idx.shape[1] < end:
        n_guess = min(k, end - idx.shape[1] - 1)  # leave room for the target's token
        guesses = generate(draft, idx, n_guess)[:, idx.shape[1] :]  # (1, n_guess)
        logits = target(torch.cat([idx, guesses], dim=1))  # one pass checks them all
        checked = greedy(logits[:, idx.shape[1] - 1 :])  # (1, n_guess + 1)
        calls += 1
        agree = (guesses == checked[:, :n_guess]).int().cumprod(dim=1).sum().item()
        proposed, accepted = proposed + n_guess, accepted + agree
        kept, own = guesses[:, :agree], checked[:, agree : agree + 1]
        idx = torch.cat([idx, kept, own], dim=1)
    return SpeculativeResult(idx, proposed, accepted, calls)
