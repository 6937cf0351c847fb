"""A decoder-only transformer (GPT): embeddings, a stack of causal pre-LN blocks, a head."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course.nn.blocks import Block
from course.nn.norms import make_norm


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

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "d_model"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be positive, got {getattr(self, name)}")


class GPT(nn.Module):
    """Token + learned position embeddings, ``n_layer`` causal blocks, a final norm and
    an output layer tied to the token embedding. ``forward(idx)`` gives next-token logits.
    """

    def __init__(self, config: GPTConfig) -> None:
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
            )
            for _ in range(c.n_layer)
        )
        self.norm = make_norm(c.norm, c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying
        self.apply(_init_weights)

    def forward(self, idx: Tensor) -> Tensor:
        """idx: (B, T) token ids with T <= block_size -> logits (B, T, vocab_size)."""
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
        length = idx.shape[1]
        if length > self.config.block_size:
            raise ValueError(
                f"sequence length {length} exceeds block_size {self.config.block_size}"
            )
        positions = torch.arange(length, device=idx.device)  # (T,)
        x = self.drop(self.tok_emb(idx) + self.pos_emb(positions))  # (B, T, C)
        for block in self.blocks:
            x = block(x, is_causal=True)  # (B, T, C)
        return self.head(self.norm(x))  # (B, T, vocab_size)


def _init_weights(module: nn.Module) -> None:
    """Small normal weights (std 0.02) and zero biases, as in GPT-2."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
