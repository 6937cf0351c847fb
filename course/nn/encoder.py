"""An encoder-only transformer (BERT-style): the GPT's blocks, run without the causal mask.

:class:`Encoder` turns token ids into one vector per position, each of which has seen the
whole input. Two heads sit on top: :class:`MaskedLM` scores the original token at every
position (masked language modelling), :class:`PooledClassifier` reads the vector of the
first position, a [CLS] token, and scores classes for the whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course.nn.blocks import Block
from course.nn.gpt import _init_weights
from course.nn.norms import LayerNorm


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of an encoder; ``vocab_size`` counts the special tokens too."""

    vocab_size: int
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_model: int = 64
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"EncoderConfig.{name} must be positive, got {getattr(self, name)}"
                )


class Encoder(nn.Module):
    """Token + learned position embeddings, ``n_layer`` bidirectional pre-LN blocks, a norm."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        c = self.config = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.block_size, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(c.d_model, c.n_head, dropout=c.dropout) for _ in range(c.n_layer)
        )
        self.norm = LayerNorm(c.d_model)
        self.apply(_init_weights)

    def forward(self, idx: Tensor, keep: Tensor | None = None) -> Tensor:
        """idx: (B, T) ids -> (B, T, C). ``keep`` (B, T), True at real tokens, hides the
        others (padding) from every query; without it every position sees every other.
        """
        if idx.dim() != 2 or idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"expected ids of shape (B, T<={self.config.block_size}), got {tuple(idx.shape)}"
            )
        positions = torch.arange(idx.shape[1], device=idx.device)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(positions))  # (B, T, C)
        mask = None if keep is None else keep[:, None, None, :]  # (B, 1, 1, S)
        for block in self.blocks:
            x = block(x, is_causal=False, mask=mask)  # (B, T, C)
        return self.norm(x)


class MaskedLM(nn.Module):
    """An :class:`Encoder` and an output layer tied to its token embedding."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.encoder.tok_emb.weight  # weight tying, as in the GPT

    def forward(self, idx: Tensor) -> Tensor:
        """idx: (B, T) -> logits (B, T, vocab_size) for the original token at each position."""
        return self.head(self.encoder(idx))


class PooledClassifier(nn.Module):
    """Classify a whole sequence from the encoder's vector at position 0, the [CLS] token.

    The pooler is BERT's: a linear layer and tanh, then a linear layer to class scores.
    """

    def __init__(self, encoder: Encoder, n_classes: int) -> None:
        super().__init__()
        d_model = encoder.config.d_model
        self.encoder = encoder
        self.pool = nn.Linear(d_model, d_model)
        self.out = nn.Linear(d_model, n_classes)

    def forward(self, idx: Tensor, keep: Tensor | None = None) -> Tensor:
        """idx: (B, T) starting with [CLS], ``keep`` as in :class:`Encoder` -> (B, n_classes)."""
        first = self.encoder(idx, keep)[:, 0]  # (B, C): the [CLS] position
        return self.out(torch.tanh(self.pool(first)))  # (B, n_classes)
