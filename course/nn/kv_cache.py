"""Greedy generation with a GPT, without and with a key/value cache (chapter 10).

The cache keeps, for every layer, the keys and values of the positions seen so far, so
each new token costs one position of work instead of a pass over the whole prefix.
:func:`forward_with_cache` runs the layers of a :class:`course.nn.gpt.GPT` (pre-LN or
post-LN blocks) on new positions only; the model itself is unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course.nn.attention import causal_mask
from course.nn.blocks import Block
from course.nn.gpt import GPT, GPTConfig
from course.nn.sampling import greedy


class KVCache:
    """Keys and values of every layer, each (B, G, S, D), growing along S."""

    def __init__(self, n_layer: int) -> None:
        if n_layer < 1:
            raise ValueError(f"a KV cache needs at least one layer, got n_layer={n_layer}")
        self.keys: list[Tensor | None] = [None] * n_layer
        self.values: list[Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        """How many positions are cached (0 when empty)."""
        first = self.keys[0]
        return 0 if first is None else first.shape[-2]

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Append k, v (B, G, T, D) to ``layer``'s cache; return all of it, (B, G, S, D)."""
        old_k, old_v = self.keys[layer], self.values[layer]
        if old_k is not None and old_v is not None:
            k = torch.cat([old_k, k], dim=-2)  # (B, G, S, D)
            v = torch.cat([old_v, v], dim=-2)
        self.keys[layer], self.values[layer] = k, v
        return k, v


def forward_with_cache(model: GPT, idx: Tensor, cache: KVCache) -> Tensor:
    """Logits (B, T, V) of new tokens ``idx`` (B, T) that follow the cached ones."""
    if idx.dim() != 2:
        raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}")
    start, length = cache.length, idx.shape[1]
    if start + length > model.config.block_size:
        raise ValueError(
            f"{start} cached + {length} new positions exceed block_size {model.config.block_size}"
        )
    positions = torch.arange(start, start + length, device=idx.device)  # (T,)
    x = model.drop(model.tok_emb(idx) + model.pos_emb(positions))  # (B, T, C)
    mask = causal_mask(length, start + length, device=idx.device)  # (T, S)
    for layer, block in enumerate(model.blocks):

        def attend(h: Tensor, block: Block = block, layer: int = layer) -> Tensor:
            q, k, v = block.self_attn.project(h)  # q (B, H, T, D), k v (B, G, T, D)
            k, v = cache.update(layer, k, v)  # (B, G, S, D): the past, then the new
            return block.self_attn.attend(q, k, v, mask)  # (B, T, C)

        if block.prenorm:  # x + f(norm(x)), as GPT builds its blocks by default
            x = x + block.dropout(attend(block.norm1(x)))
            x = x + block.dropout(block.ffn(block.norm2(x)))
        else:  # post-LN: norm(x + f(x))
            x = block.norm1(x + block.dropout(attend(x)))
            x = block.norm2(x + block.dropout(block.ffn(x)))
    return model.head(model.norm(x))  # (B, T, V)


def _check_request(model: GPT, idx: Tensor, max_new_tokens: int) -> None:
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise ValueError(f"the prompt must have shape (B, T) with T >= 1, got {tuple(idx.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if idx.shape[1] + max_new_tokens > model.config.block_size:
        raise ValueError(
            f"{idx.shape[1]} prompt + {max_new_tokens} new tokens exceed block_size "
            f"{model.config.block_size}"
        )


@torch.no_grad()
def generate(model: GPT, idx: Tensor, max_new_tokens: int) -> Tensor:
    """Greedy decoding that re-reads the whole sequence for every new token: (B, T + new)."""
    _check_request(model, idx, max_new_tokens)
    for _ in range(max_new_tokens):
        next_token = greedy(model(idx)[:, -1])  # (B,)
        idx = torch.cat([idx, next_token[:, None]], dim=1)
    return idx


@torch.no_grad()
def generate_with_cache(model: GPT, idx: Tensor, max_new_tokens: int) -> Tensor:
    """The same tokens as :func:`generate`; after the prompt, one position per step."""
    _check_request(model, idx, max_new_tokens)
    cache = KVCache(model.config.n_layer)
    logits = forward_with_cache(model, idx, cache)  # (B, T, V): the prompt, all at once
    for step in range(max_new_tokens):
        next_token = greedy(logits[:, -1])  # (B,)
        idx = torch.cat([idx, next_token[:, None]], dim=1)
        if step < max_new_tokens - 1:
            logits = forward_with_cache(model, next_token[:, None], cache)  # (B, 1, V)
    return idx


def kv_cache_bytes(
    config: GPTConfig, seq_len: int, *, batch: int = 1, bytes_per_value: int = 2
) -> int:
    """Bytes a full cache takes: 2 (K and V) x layers x kv heads x head size x positions."""
    if seq_len < 0 or batch < 1 or bytes_per_value < 1:
        raise ValueError("seq_len must be >= 0, batch and bytes_per_value >= 1")
    n_kv_head = config.n_head if config.n_kv_head is None else config.n_kv_head
    head_dim = config.d_model // config.n_head
    return 2 * config.n_layer * n_kv_head * head_dim * seq_len * batch * bytes_per_value
