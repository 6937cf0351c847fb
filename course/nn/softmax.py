"""Softmax that never overflows: the soft, differentiable argmax of chapter 4."""

from __future__ import annotations

import torch
from torch import Tensor


def softmax(logits: Tensor, dim: int = -1) -> Tensor:
    """Turn scores into probabilities along ``dim``: non-negative, summing to 1.

    ``exp(x - max(x)) / sum(exp(x - max(x)))`` equals ``exp(x) / sum(exp(x))``, but
    its largest exponent is ``exp(0) = 1``, so huge scores cannot overflow to ``inf``.
    Entries of ``-inf`` (masked positions) get probability 0; a slice that is all
    ``-inf`` has no probabilities to give and comes back as all zeros, not ``nan``.
    Same shape and dtype as ``logits``, which must be a floating-point tensor.
    """
    if not isinstance(logits, Tensor):
        raise TypeError(f"softmax expects a torch.Tensor, not {type(logits).__name__}")
    if not logits.is_floating_point():
        raise TypeError(f"softmax expects floating-point scores, got dtype {logits.dtype}")
    largest = logits.amax(dim=dim, keepdim=True)
    largest = torch.where(torch.isfinite(largest), largest, torch.zeros_like(largest))
    exps = torch.exp(logits - largest)
    total = exps.sum(dim=dim, keepdim=True)
    return exps / torch.where(total > 0, total, torch.ones_like(total))
