"""Greedy generation with a GPT, without and with a key/value cache (chapters 10 and 11).

The cache keeps, for every layer, the keys and values of the positions seen so far, so
each new token costs one position of work instead of a pass over the whole prefix. It is
allocated once, at its full length, and its fill level ``length`` is a tensor on the
model's device: every decoding step runs the same shapes and reads no Python number
that changes, so ``torch.compile`` compiles the step once and a GPU can replay it as a
CUDA graph (the design of gpt-fast). ``GPT.forward(idx, cache=cache)`` uses it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from course.nn.gpt import GPT, GPTConfig
from course.nn.sampling import greedy


class KVCache:
    """Keys and values of every layer in two preallocated buffers (L, B, G, S_max, D)."""

    def __init__(
        self,
        n_layer: int,
        batch: int,
        n_kv_head: int,
        max_len: int,
        head_dim: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        sizes = {"n_layer": n_layer, "batch": batch, "n_kv_head": n_kv_head}
        sizes |= {"max_len": max_len, "head_dim": head_dim}
        for name, size in sizes.items():
            if size < 1:
                raise ValueError(f"a KV cache needs {name} >= 1, got {size}")
        shape = (n_layer, batch, n_kv_head, max_len, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)  # (L, B, G, S_max, D)
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self.length = torch.zeros((), dtype=torch.long, device=device)  # positions filled

    @classmethod
    def for_model(cls, model: GPT, batch: int, max_len: int | None = None) -> KVCache:
        """An empty cache for ``model``: ``batch`` sequences of up to ``max_len`` positions."""
        c = model.config
        max_len = c.block_size if max_len is None else max_len
        if not 0 < max_len <= c.block_size:
            raise ValueError(f"max_len must lie in [1, {c.block_size}], got {max_len}")
        weight = model.tok_emb.weight
        n_kv_head = c.n_head if c.n_kv_head is None else c.n_kv_head
        head_dim = c.d_model // c.n_head
        return cls(c.n_layer, batch, n_kv_head, max_len, head_dim, weight.dtype, weight.device)

    @property
    def max_len(self) -> int:
        return self.keys.shape[3]

    def write(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Store k, v (B, G, T, D) at the next T positions of ``layer``.

        Returns the layer's whole buffers (B, G, S_max, D) and the (T, S_max) mask of the
        keys each new query may see: filled positions up to and including its own.
        """
        t = k.shape[2]
        eager = layer == 0 and not torch.compiler.is_compiling()  # a compiled step skips it
        if eager and int(self.length) + t > self.max_len:
            raise ValueError(f"cache full: {int(self.length)} + {t} > {self.max_len} positions")
        positions = self.length + torch.arange(t, device=k.device)  # (T,)
        self.keys[layer].index_copy_(2, positions, k.to(self.keys.dtype))
        self.values[layer].index_copy_(2, positions, v.to(self.values.dtype))
        visible = torch.arange(self.max_len, device=k.device)[None, :] <= positions[:, None]
        return self.keys[layer], self.values[layer], visible  # (T, S_max) mask

    def advance(self, t: int) -> None:
        """Count ``t`` more positions as filled, once every layer has written them."""
        self.length += t  # in place, on the device


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
    cache = KVCache.for_model(model, idx.shape[0], idx.shape[1] + max_new_tokens)
    logits = model(idx, cache=cache)  # (B, T, V): the prompt, all at once
    for step in range(max_new_tokens):
        next_token = greedy(logits[:, -1])  # (B,)
        idx = torch.cat([idx, next_token[:, None]], dim=1)
        if step < max_new_tokens - 1:
            logits = model(next_token[:, None], cache=cache)  # (B, 1, V)
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
