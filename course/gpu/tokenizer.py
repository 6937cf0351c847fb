"""Bytes as tokens: a vocabulary of 256 that covers any text with no training."""

from __future__ import annotations

import torch
from torch import Tensor

VOCAB_SIZE = 256


def encode(text: str) -> Tensor:
    """UTF-8 bytes of `text` as a 1-D int64 tensor of token ids in [0, 256)."""
    if not isinstance(text, str):
        raise TypeError(f"encode expects a str, got {type(text).__name__}")
    return torch.tensor(list(text.encode("utf-8")), dtype=torch.long)


def decode(tokens: Tensor | list[int]) -> str:
    """Text of a sequence of byte ids; broken UTF-8 sequences show as U+FFFD."""
    ids = tokens.tolist() if isinstance(tokens, Tensor) else list(tokens)
    if any(not 0 <= i < VOCAB_SIZE for i in ids):
        raise ValueError(f"token ids must lie in [0, {VOCAB_SIZE}), got {min(ids)}..{max(ids)}")
    return bytes(ids).decode("utf-8", errors="replace")
