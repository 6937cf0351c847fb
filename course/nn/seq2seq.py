"""An encoder-decoder transformer: the encoder reads the source, the decoder writes the target."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from course.nn.blocks import Block
from course.nn.norms import LayerNorm


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Sizes of an encoder-decoder; source and target share one vocabulary."""

    vocab_size: int
    block_size: int = 16
    n_layer: int = 1
    n_head: int = 2
    d_model: int = 32
    dropout: float = 0.0


class Seq2Seq(nn.Module):
    """Encoder: bidirectional blocks. Decoder: causal blocks with cross-attention."""

    def __init__(self, config: Seq2SeqConfig) -> None:
        super().__init__()
        c = config
        self.config = c
        self.tok_emb = nn.Embedding(c.vocab_size, c.d_model)
        self.pos_emb = nn.Embedding(c.block_size, c.d_model)
        self.encoder = nn.ModuleList(
            Block(c.d_model, c.n_head, dropout=c.dropout) for _ in range(c.n_layer)
        )
        self.decoder = nn.ModuleList(
            Block(c.d_model, c.n_head, cross_attention=True, dropout=c.dropout)
            for _ in range(c.n_layer)
        )
        self.enc_norm = LayerNorm(c.d_model)
        self.dec_norm = LayerNorm(c.d_model)
        self.head = nn.Linear(c.d_model, c.vocab_size)

    def _embed(self, idx: Tensor) -> Tensor:
        """(B, T) ids -> (B, T, C) token + position embeddings."""
        if idx.dim() != 2 or idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"expected ids of shape (B, T<={self.config.block_size}), got {tuple(idx.shape)}"
            )
        return self.tok_emb(idx) + self.pos_emb(torch.arange(idx.shape[1], device=idx.device))

    def encode(self, src: Tensor) -> Tensor:
        """src: (B, S) -> memory (B, S, C); every source position sees every other."""
        x = self._embed(src)
        for block in self.encoder:
            x = block(x)
        return self.enc_norm(x)

    def decode(self, tgt: Tensor, memory: Tensor) -> Tensor:
        """tgt: (B, T) (starting with BOS), memory: (B, S, C) -> logits (B, T, vocab)."""
        x = self._embed(tgt)
        for block in self.decoder:
            x = block(x, memory, is_causal=True)
        return self.head(self.dec_norm(x))

    def forward(self, src: Tensor, tgt: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, vocab) for the token after each of ``tgt``."""
        return self.decode(tgt, self.encode(src))

    @torch.no_grad()
    def greedy(self, src: Tensor, bos: int, length: int) -> Tensor:
        """Write ``length`` tokens after ``bos``, each the most likely: (B, length)."""
        memory = self.encode(src)
        out = torch.full((src.shape[0], 1), bos, dtype=torch.long, device=src.device)
        for _ in range(length):
            next_id = self.decode(out, memory)[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
            out = torch.cat([out, next_id], dim=1)
        return out[:, 1:]
