"""A preallocated KV cache and generation with and without it.

The cache holds every layer's keys and values in two fixed buffers of shape
(layers, B, H, max_len, D). Decoding writes one position per step and attends over the
whole buffer through a mask, so no tensor changes shape while generating.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from course.gpu.model import GPT


@dataclass
class KVCache:
    keys: Tensor  # (L, B, H, S, D)
    values: Tensor  # (L, B, H, S, D)
    length: int = 0  # positions filled so far

    @classmethod
    def for_model(cls, model: GPT, batch: int, max_len: int | None = None) -> KVCache:
        """Empty cache sized for `model`, `batch` sequences and `max_len` positions."""
        config = model.config
        max_len = config.block_size if max_len is None else max_len
        if not 0 < max_len <= config.block_size:
            raise ValueError(f"max_len must lie in [1, {config.block_size}], got {max_len}")
        weight = model.tok.weight
        shape = (config.n_layer, batch, config.n_head, max_len, config.n_embd // config.n_head)
        return cls(weight.new_zeros(shape), weight.new_zeros(shape))

    @property
    def max_len(self) -> int:
        return self.keys.shape[3]

    def write(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Store k, v (B, H, T, D) at the next T positions of `layer`.

        Returns the layer's full key and value buffers (B, H, S, D) and the (T, S) mask of
        the keys each new query may see: filled positions up to and including its own.
        """
        t = k.shape[2]
        if self.length + t > self.max_len:
            raise ValueError(f"cache full: {self.length} + {t} > {self.max_len} positions")
        self.keys[layer, :, :, self.length : self.length + t] = k
        self.values[layer, :, :, self.length : self.length + t] = v
        queries = torch.arange(self.length, self.length + t, device=k.device)[:, None]
        visible = torch.arange(self.max_len, device=k.device)[None, :] <= queries  # (T, S)
        return self.keys[layer], self.values[layer], visible

    def advance(self, t: int) -> None:
        """Mark `t` more positions as filled (after every layer has written them)."""
        self.length += t


def next_token(
    logits: Tensor, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> Tensor:
    """Pick a token per row of logits (B, V): argmax when temperature is 0, else sample."""
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)  # (B, 1)


@torch.no_grad()
def generate(
    model: GPT,
    prompt: Tensor,
    max_new_tokens: int,
    *,
    use_cache: bool = True,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Extend prompt (B, T) by `max_new_tokens` tokens: returns (B, T + max_new_tokens).

    Greedy (temperature 0) output is the same with and without the cache; sampling with
    the same `generator` state is too.
    """
    if prompt.ndim != 2 or prompt.shape[1] == 0:
        raise ValueError(f"prompt must be (B, T) with T >= 1, got shape {tuple(prompt.shape)}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    total = prompt.shape[1] + max_new_tokens
    if total > model.config.block_size:
        raise ValueError(
            f"prompt + new tokens = {total} exceed block_size {model.config.block_size}"
        )
    tokens = prompt
    cache = KVCache.for_model(model, prompt.shape[0], total) if use_cache else None
    step_input = prompt
    for _ in range(max_new_tokens):
        logits, _ = model(step_input if use_cache else tokens, cache=cache)
        token = next_token(logits[:, -1], temperature, top_k, generator)  # (B, 1)
        tokens = torch.cat([tokens, token], dim=1)
        step_input = token
    return tokens
