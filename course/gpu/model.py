"""A small GPT whose attention is switchable: `naive` (the full score matrix), `sdpa`
(PyTorch's fused kernel, FlashAttention's backend on a GPU) or `triton` (our kernel).

With a KV cache (course.gpu.kv_cache) the model reads only the new tokens: each layer
writes their keys and values into the cache and attends over the whole preallocated
buffer with a mask, so every decoding step has the same shapes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course.gpu.attention import naive_attention, sdpa_attention
from course.gpu.tokenizer import VOCAB_SIZE

if TYPE_CHECKING:
    from course.gpu.kv_cache import KVCache

ATTENTIONS = ("naive", "sdpa", "triton")
#: A causal attention function: q, k, v (B, H, T, D) -> (B, H, T, D).
AttentionFn = Callable[[Tensor, Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of the model; `attention` picks the attention implementation."""

    vocab_size: int = VOCAB_SIZE
    block_size: int = 128
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 64
    attention: str = "sdpa"

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {self.attention!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd ({self.n_embd}) must be a multiple of n_head ({self.n_head})")


def attend(q: Tensor, k: Tensor, v: Tensor, kind: str) -> Tensor:
    """Causal attention of q (B, H, T, D) over k, v (B, H, T, D) with the chosen kernel."""
    if kind == "naive":
        return naive_attention(q, k, v, causal=True)
    if kind == "sdpa":
        return sdpa_attention(q, k, v, causal=True)
    from course.gpu.flash_triton import flash_attention  # imports Triton only when used

    return flash_attention(q, k, v, causal=True)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, attention_fn: AttentionFn | None = None) -> None:
        super().__init__()
        self.n_head, self.kind, self.attention_fn = config.n_head, config.attention, attention_fn
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)
        self.proj = nn.Linear(config.n_embd, config.n_embd)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)  # 3 x (B, T, C)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        if cache is None:
            y = (
                attend(q, k, v, self.kind)
                if self.attention_fn is None
                else self.attention_fn(q, k, v)
            )
        else:
            keys, values, visible = cache.write(layer, k, v)  # (B, H, S, D) x 2, (T, S)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))  # (B, T, C)


class Block(nn.Module):
    def __init__(self, config: GPTConfig, attention_fn: AttentionFn | None = None) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(config.n_embd), nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, attention_fn)
        self.mlp = nn.Sequential(
            nn.Linear(config.n_embd, 4 * config.n_embd),
            nn.GELU(),
            nn.Linear(4 * config.n_embd, config.n_embd),
        )

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln1(x), cache, layer)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """Token and position embeddings, `n_layer` blocks, a tied output layer.

    `attention_fn`, when given, replaces `config.attention` in training and uncached
    forward passes: bring your own causal attention.
    """

    def __init__(self, config: GPTConfig, attention_fn: AttentionFn | None = None) -> None:
        super().__init__()
        self.config = config
        self.tok = nn.Embedding(config.vocab_size, config.n_embd)
        self.pos = nn.Embedding(config.block_size, config.n_embd)
        self.blocks = nn.ModuleList(Block(config, attention_fn) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.tok.weight  # weight tying
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        """Parameters, counting the tied embedding once."""
        return sum(p.numel() for p in self.parameters())

    def forward(
        self, idx: Tensor, targets: Tensor | None = None, cache: KVCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, V) for token ids (B, T); the mean cross-entropy when targets are given."""
        t = idx.shape[1]
        start = 0 if cache is None else cache.length
        if start + t > self.config.block_size:
            raise ValueError(f"{start + t} positions exceed block_size {self.config.block_size}")
        positions = torch.arange(start, start + t, device=idx.device)
        x = self.tok(idx) + self.pos(positions)  # (B, T, C)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        if cache is not None:
            cache.advance(t)
        logits = self.head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return logits, loss
