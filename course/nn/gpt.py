"""A decoder-only transformer (GPT): embeddings, a stack of causal pre-LN blocks, a head.

The one model of the course, from chapter 6 to the GPU lab: ``GPTConfig.attention``
picks the attention kernel (``naive``, ``sdpa`` or ``triton``), and ``forward`` takes a
:class:`course.nn.kv_cache.KVCache` to generate one position at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from course.nn.attention import BACKENDS, AttentionFn
from course.nn.blocks import Block
from course.nn.norms import make_norm

if TYPE_CHECKING:
    from course.nn.kv_cache import KVCache


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT. ``n_kv_head=None`` means as many key/value heads as query heads."""

    vocab_size: int
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_kv_head: int | None = None
    d_model: int = 64
    dropout: float = 0.0
    activation: str = "gelu"
    norm: str = "layer"
    prenorm: bool = True  # False: the original post-LN block, kept for comparison
    attention: str = "sdpa"  # "naive", "sdpa" or "triton": see course.nn.attention

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be positive, got {getattr(self, name)}")
        if self.attention not in BACKENDS:
            raise ValueError(
                f"GPTConfig.attention must be one of {BACKENDS}, got {self.attention!r}"
            )


class GPT(nn.Module):
    """Token + learned position embeddings, ``n_layer`` causal blocks, a final norm and
    an output layer tied to the token embedding. ``forward(idx)`` gives next-token logits.

    ``attention_fn``, when given, replaces ``config.attention`` in uncached causal
    self-attention: bring your own kernel, q, k, v (B, H, T, D) -> (B, H, T, D).
    """

    def __init__(self, config: GPTConfig, attention_fn: AttentionFn | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.block_size, c.d_model)
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(
            Block(
                c.d_model,
                c.n_head,
                c.n_kv_head,
                activation=c.activation,
                norm=c.norm,
                prenorm=c.prenorm,
                dropout=c.dropout,
                attention=c.attention,
                attention_fn=attention_fn,
            )
            for _ in range(c.n_layer)
        )
        self.norm = make_norm(c.norm, c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(_init_weights)

    def num_params(self) -> int:
        """Parameters, counting the tied embedding once."""
        return sum(p.numel() for p in self.parameters())

    def forward(self, idx: Tensor, cache: KVCache | None = None) -> Tensor:
        """idx: (B, T) token ids with T <= block_size -> logits (B, T, vocab_size).

        With ``cache``, ``idx`` continues the positions already cached: their keys and
        values are read from it, the new ones written to it, and its length advances by T.
        The cache checks its own bounds (its length stays on the device, unread).
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        length = idx.shape[1]
        if length > self.config.block_size:
            raise ValueError(
                f"sequence length {length} exceeds block_size {self.config.block_size}"
            )
        positions = torch.arange(length, device=idx.device)  # (T,)
        if cache is not None:
            positions = positions + cache.length  # continue after the cached positions
        x = self.drop(self.tok_emb(idx) + self.pos_emb(positions))  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, is_causal=True, cache=cache, layer=layer)  # (B, T, C)
        if cache is not None:
            cache.advance(length)
        return self.head(self.norm(x))  # (B, T, vocab_size)


def _init_weights(module: nn.Module) -> None:
    """Small normal weights (std 0.02) and zero biases, as in GPT-2."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
