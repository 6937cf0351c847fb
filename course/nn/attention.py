"""Scaled dot-product attention and multi-head attention (with GQA/MQA and cross-attention).

Shapes use B for batch, H for query heads, G for key/value heads, T for query positions,
S for key positions, D for head size and C for the model width (C = H * D).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from course.nn.positions import apply_rope

if TYPE_CHECKING:
    from course.nn.kv_cache import KVCache

#: Attention backends of :class:`MultiHeadAttention`: the materialised score matrix,
#: PyTorch's fused kernel, or the course's Triton FlashAttention kernel.
BACKENDS = ("naive", "sdpa", "triton")
#: A causal attention function: q, k, v (B, H, T, D) -> (B, H, T, D).
AttentionFn = Callable[[Tensor, Tensor, Tensor], Tensor]
#: sdpa's kernels on a GPU, fastest first: FlashAttention needs sm80+ (not a T4), the
#: memory-efficient kernel runs almost anywhere, the math one everywhere.
SDPA_PREFERENCE = [
    SDPBackend.FLASH_ATTENTION,
    SDPBackend.EFFICIENT_ATTENTION,
    SDPBackend.MATH,
]


def causal_mask(T: int, S: int | None = None, *, device: torch.device | None = None) -> Tensor:
    """Boolean (T, S) mask, True where query t may see key s (s <= t + S - T).

    With S == T (the default) this is the lower triangle: every position sees itself and
    the past. With S > T the queries are the last T positions of a length-S sequence.
    """
    S = T if S is None else S
    if T < 0 or S < 0:
        raise ValueError(f"causal_mask needs non-negative sizes, got T={T}, S={S}")
    return torch.ones(T, S, dtype=torch.bool, device=device).tril(diagonal=S - T)


def attention_weights(q: Tensor, k: Tensor, mask: Tensor | None = None) -> Tensor:
    """softmax(q k^T / sqrt(D) + mask): q (..., T, D), k (..., S, D) -> (..., T, S).

    ``mask`` is boolean (True = may attend) or additive (added to the scores),
    broadcastable to (..., T, S). Each row of the result sums to 1.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k need the same last size, got {q.shape[-1]} and {k.shape[-1]}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    return torch.softmax(scores, dim=-1)  # (..., T, S)


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """softmax(q k^T / sqrt(D) + mask) v, and the attention weights.

    q: (..., T, D), k: (..., S, D), v: (..., S, Dv); ``mask`` as in
    :func:`attention_weights`. Returns (output (..., T, Dv), weights (..., T, S)).
    """
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v need the same length, got {k.shape[-2]} and {v.shape[-2]}")
    weights = attention_weights(q, k, mask)  # (..., T, S)
    return weights @ v, weights


def _add_causal(mask: Tensor | None, q: Tensor, k: Tensor) -> Tensor:
    """``mask`` and the causal mask of queries q (..., T, D) over keys k (..., S, D)."""
    causal_keep = causal_mask(q.shape[-2], k.shape[-2], device=q.device)  # (T, S)
    return causal_keep if mask is None else mask & causal_keep


class MultiHeadAttention(nn.Module):
    """Multi-head attention with ``n_kv_head`` key/value heads shared by groups of queries.

    ``n_kv_head == n_head`` is classic multi-head attention, ``1`` is multi-query
    attention, anything between that divides ``n_head`` is grouped-query attention.
    Pass ``context`` to ``forward`` for cross-attention (keys and values from it), or a
    :class:`course.nn.kv_cache.KVCache` as ``cache`` to attend over cached positions.

    ``backend`` picks how causal self-attention is computed: ``"sdpa"`` (PyTorch's fused
    kernel), ``"naive"`` (the (T, S) matrix of :func:`scaled_dot_product_attention`) or
    ``"triton"`` (:mod:`course.nn.flash_triton`); ``attention_fn``, when given, replaces
    the backend for uncached causal self-attention (bring your own kernel). Any other
    mask, and the cache's, goes to sdpa (``naive`` keeps the matrix there too).

    ``rope_base``, when given, rotates queries and keys by their positions (RoPE, see
    :func:`course.nn.positions.apply_rope`) before any kernel sees them; with a cache
    the new tokens sit at positions ``cache.length + 0 .. T-1``.
    """

    def __init__(
        self,
        d_model: int,
        n_head: int,
        n_kv_head: int | None = None,
        *,
        dropout: float = 0.0,
        bias: bool = True,
        backend: str = "sdpa",
        attention_fn: AttentionFn | None = None,
        rope_base: float | None = None,
    ) -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"attention backend must be one of {BACKENDS}, got {backend!r}")
        n_kv_head = n_head if n_kv_head is None else n_kv_head
        if d_model % n_head:
            raise ValueError(f"d_model={d_model} is not divisible by n_head={n_head}")
        if n_kv_head < 1 or n_head % n_kv_head:
            raise ValueError(f"n_head={n_head} is not a multiple of n_kv_head={n_kv_head}")
        self.d_model, self.n_head, self.n_kv_head = d_model, n_head, n_kv_head
        self.head_dim = d_model // n_head
        self.dropout = dropout
        self.backend, self.attention_fn = backend, attention_fn
        self.rope_base = rope_base
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, n_kv_head * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(d_model, n_kv_head * self.head_dim, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    def _heads(self, x: Tensor, n: int) -> Tensor:
        """(B, T, n * D) -> (B, n, T, D)."""
        B, T, _ = x.shape
        return x.view(B, T, n, self.head_dim).transpose(1, 2)

    def project(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Queries (B, H, T, D) from ``x``; keys and values (B, G, S, D) from ``context``."""
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"expected x of shape (B, T, {self.d_model}), got {tuple(x.shape)}")
        context = x if context is None else context
        if context.dim() != 3 or context.shape[::2] != (x.shape[0], self.d_model):
            raise ValueError(
                f"expected context of shape ({x.shape[0]}, S, {self.d_model}), "
                f"got {tuple(context.shape)}"
            )
        q = self._heads(self.q_proj(x), self.n_head)  # (B, H, T, D)
        k = self._heads(self.k_proj(context), self.n_kv_head)  # (B, G, S, D)
        v = self._heads(self.v_proj(context), self.n_kv_head)  # (B, G, S, D)
        return q, k, v

    def rotate(self, q: Tensor, k: Tensor, cache: KVCache | None = None) -> tuple[Tensor, Tensor]:
        """RoPE on q (B, H, T, D) and k (B, G, T, D) at positions 0 .. T-1, or after the
        cache's filled positions; unchanged when the module has no ``rope_base``."""
        if self.rope_base is None:
            return q, k
        positions = torch.arange(q.shape[-2], device=q.device)  # (T,)
        if cache is not None:
            positions = positions + cache.length  # a tensor on the device: no sync
        return apply_rope(q, positions, self.rope_base), apply_rope(k, positions, self.rope_base)

    def repeat_kv(self, x: Tensor) -> Tensor:
        """(B, G, S, D) -> (B, H, S, D): each key/value head serves a group of queries."""
        groups = self.n_head // self.n_kv_head
        return x if groups == 1 else x.repeat_interleave(groups, dim=1)

    def _sdpa(
        self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, p: float,
        *, is_causal: bool = False,
    ) -> Tensor:  # fmt: skip
        """PyTorch's fused attention; it shares the G key/value heads itself (enable_gqa)."""
        gqa = k.shape[1] != q.shape[1]
        on_gpu = sdpa_kernel(SDPA_PREFERENCE, set_priority=True) if q.is_cuda else None
        with on_gpu or contextlib.nullcontext():
            return F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=p, is_causal=is_causal, enable_gqa=gqa
            )

    def attend(
        self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, *, causal: bool = False
    ) -> Tensor:
        """Attention of q (B, H, T, D) over k, v (B, G, S, D), heads merged: (B, T, C).

        ``causal`` applies the causal mask (bottom-right aligned) on top of ``mask``.
        """
        p = self.dropout if self.training else 0.0
        whole_triangle = causal and mask is None  # the causal mask and nothing else
        if whole_triangle and p == 0.0 and self.attention_fn is not None:
            out = self.attention_fn(q, self.repeat_kv(k), self.repeat_kv(v))  # (B, H, T, D)
        elif whole_triangle and p == 0.0 and self.backend == "triton":
            from course.nn.flash_triton import flash_attention  # Triton only when used

            out = flash_attention(q, self.repeat_kv(k), self.repeat_kv(v), causal=True)
        elif self.backend == "naive":
            mask = _add_causal(mask, q, k) if causal else mask
            weights = F.dropout(attention_weights(q, self.repeat_kv(k), mask), p)  # (B, H, T, S)
            out = weights @ self.repeat_kv(v)  # (B, H, T, D)
        elif whole_triangle and q.shape[-2] == k.shape[-2]:
            out = self._sdpa(q, k, v, None, p, is_causal=True)  # no mask to build or read
        else:  # sdpa with other masks, and the Triton backend's fallback for them
            out = self._sdpa(q, k, v, _add_causal(mask, q, k) if causal else mask, p)
        B, H, T, D = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(B, T, H * D))  # (B, T, C)

    def forward(
        self,
        x: Tensor,
        context: Tensor | None = None,
        *,
        mask: Tensor | None = None,
        is_causal: bool = False,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> Tensor:
        """x: (B, T, C), context: (B, S, C) or None. ``mask`` (True = may attend) is
        broadcastable to (B, H, T, S); ``is_causal`` adds the causal mask. With ``cache``,
        the new keys and values go to its ``layer`` and the queries attend over every
        position it holds (the cache's mask is causal). Returns (B, T, C).
        """
        q, k, v = self.project(x, context)
        if self.rope_base is not None and context is not None:
            raise ValueError("RoPE rotates self-attention only: this module got a context")
        q, k = self.rotate(q, k, cache)
        if cache is not None:
            k, v, visible = cache.write(layer, k, v)  # (B, G, S_max, D) x 2, (T, S_max)
            return self.attend(q, k, v, visible if mask is None else mask & visible)
        return self.attend(q, k, v, mask, causal=is_causal)

    def attention_weights(
        self, x: Tensor, context: Tensor | None = None, *, is_causal: bool = False
    ) -> Tensor:
        """The attention weights of every head, (B, H, T, S), for plotting."""
        q, k, _ = self.project(x, context)
        if context is None:
            q, k = self.rotate(q, k)
        k = self.repeat_kv(k)  # (B, H, S, D)
        mask = causal_mask(q.shape[-2], k.shape[-2], device=q.device) if is_causal else None
        return attention_weights(q, k, mask)
