"""Attention one tile at a time, the idea behind FlashAttention (chapter 10).

The online softmax keeps a running maximum and a running sum of exponentials, so the
scores of a row can arrive in blocks. Tiled attention uses it to combine blocks of
keys and values without ever holding the (T, S) matrix of scores: the largest
intermediate is one (block_q, block_k) tile. :func:`tiled_attention_backward` is the
backward pass that rebuilds the probabilities tile by tile from one saved number per row.
:func:`peak_memory` (from course.memory) measures the memory of a call, on CPU or GPU.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course.memory import peak_memory


def online_softmax(x: Tensor, block_size: int) -> Tensor:
    """softmax over the last axis of ``x``, reading it ``block_size`` entries at a time.

    A first pass streams the blocks, keeping per row the running maximum ``m`` and the
    sum ``l`` of exp(x - m), rescaled whenever ``m`` grows; a second pass normalises.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    m = torch.full(x.shape[:-1], float("-inf"), dtype=x.dtype)  # (...,)
    total = torch.zeros(x.shape[:-1], dtype=x.dtype)  # (...,)
    for block in x.split(block_size, dim=-1):  # (..., b)
        m_new = torch.maximum(m, block.max(dim=-1).values)
        safe = torch.where(torch.isinf(m_new), 0.0, m_new)  # rows with only -inf so far
        total = total * torch.exp(m - safe) + torch.exp(block - safe[..., None]).sum(dim=-1)
        m = m_new
    return torch.exp(x - m[..., None]) / total[..., None]


def tiled_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    *,
    causal: bool = False,
    block_q: int = 64,
    block_k: int = 64,
) -> Tensor:
    """softmax(q k^T / sqrt(D)) v, tile by tile: q (..., T, D), k and v (..., S, D).

    For each block of queries, the blocks of keys stream past; the running row
    maximum, the running row sum and the output accumulator are rescaled as in
    :func:`online_softmax`. With ``causal``, query t sees keys s <= t + S - T, and
    tiles wholly in the future are skipped. Returns (..., T, Dv).
    """
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        shapes = f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        raise ValueError(f"incompatible shapes {shapes}")
    if block_q < 1 or block_k < 1:
        raise ValueError(f"block sizes must be positive, got {block_q}, {block_k}")
    T, S = q.shape[-2], k.shape[-2]
    out = q.new_empty(*q.shape[:-1], v.shape[-1])  # (..., T, Dv)
    for i in range(0, T, block_q):
        q_tile = q[..., i : i + block_q, :] / math.sqrt(q.shape[-1])  # (..., bq, D)
        bq = q_tile.shape[-2]
        last_key = torch.arange(i, i + bq, device=q.device)[:, None] + (S - T)  # (bq, 1)
        m = q.new_full(q_tile.shape[:-1], float("-inf"))  # (..., bq) running max
        total = q.new_zeros(q_tile.shape[:-1])  # (..., bq) running sum
        acc = q.new_zeros(*q_tile.shape[:-1], v.shape[-1])  # (..., bq, Dv)
        for j in range(0, S, block_k):
            if causal and j > i + bq - 1 + S - T:
                break  # this tile and all later ones lie in the future
            k_tile, v_tile = k[..., j : j + block_k, :], v[..., j : j + block_k, :]
            scores = q_tile @ k_tile.transpose(-2, -1)  # (..., bq, bk)
            if causal:
                keys = torch.arange(j, j + scores.shape[-1], device=q.device)[None, :]  # (1, bk)
                scores = scores.masked_fill(keys > last_key, float("-inf"))
            m_new = torch.maximum(m, scores.max(dim=-1).values)
            safe = torch.where(torch.isinf(m_new), 0.0, m_new)  # no -inf - -inf
            p = torch.exp(scores - safe[..., None])  # (..., bq, bk)
            shrink = torch.exp(m - safe)  # (..., bq): rescales the old terms
            total = total * shrink + p.sum(dim=-1)
            acc = acc * shrink[..., None] + p @ v_tile
            m = m_new
        out[..., i : i + block_q, :] = acc / total[..., None]
    return out


def naive_attention(q: Tensor, k: Tensor, v: Tensor, *, causal: bool = False) -> Tensor:
    """The reference: the whole (..., T, S) score matrix at once, then softmax, then v."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    if causal:
        T, S = scores.shape[-2:]
        keep = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(diagonal=S - T)
        scores = scores.masked_fill(~keep, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v  # (..., T, Dv)


def tiled_attention_backward(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    grad_out: Tensor,
    *,
    causal: bool = False,
    block: int = 512,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of attention for q (B, H, T, D), k and v (B, H, S, D), key block by block.

    FlashAttention-2's recipe: P = exp(q k^T / sqrt(D) - lse) from the saved
    log-sum-exp lse (B, H, T), then dV = P^T dO, dP = dO V^T,
    dS = P * (dP - rowsum(dO * O)), dQ = dS K, dK = dS^T Q (both times 1 / sqrt(D)).
    Works in float32; memory stays O(T * block). Returns (dq, dk, dv) in the inputs' dtypes.
    """
    T, S = q.shape[2], k.shape[2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    qf, do = q.float(), grad_out.float()
    delta = (do * out.float()).sum(dim=-1, keepdim=True)  # (B, H, T, 1)
    dq = torch.zeros_like(qf)
    dk, dv = torch.zeros_like(k, dtype=torch.float32), torch.zeros_like(v, dtype=torch.float32)
    keep = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(S - T) if causal else None
    for start in range(0, S, block):
        stop = min(start + block, S)
        k_blk, v_blk = k[:, :, start:stop].float(), v[:, :, start:stop].float()
        scores = qf @ k_blk.transpose(-2, -1) * scale  # (B, H, T, b)
        if keep is not None:
            scores = scores.masked_fill(~keep[:, start:stop], float("-inf"))
        p = torch.exp(scores - lse[..., None])  # (B, H, T, b)
        dv[:, :, start:stop] = p.transpose(-2, -1) @ do
        d_scores = p * (do @ v_blk.transpose(-2, -1) - delta) * scale  # (B, H, T, b)
        dq += d_scores @ k_blk
        dk[:, :, start:stop] = d_scores.transpose(-2, -1) @ qf
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


__all__ = [
    "naive_attention",
    "online_softmax",
    "peak_memory",
    "tiled_attention",
    "tiled_attention_backward",
]
