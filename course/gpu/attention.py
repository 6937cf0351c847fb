"""Attention three ways in plain PyTorch: materialised, tiled with an online softmax, and
the tiled backward pass that recomputes probabilities instead of storing them.

Every function takes q (B, H, Tq, D), k and v (B, H, Tk, D). Causal masks are aligned
bottom-right: query i sees keys 0 .. i + (Tk - Tq), so a query block that continues a
cached prefix (Tq < Tk) sees the whole prefix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.nn.attention import SDPBackend, sdpa_kernel


def check_qkv(q: Tensor, k: Tensor, v: Tensor, causal: bool) -> None:
    """Raise one clear ValueError when q, k, v cannot be attended together."""
    if not (q.ndim == k.ndim == v.ndim == 4):
        raise ValueError(f"q, k, v must be 4-D (B, H, T, D), got {q.ndim}, {k.ndim}, {v.ndim} dims")
    if k.shape != v.shape or q.shape[:2] != k.shape[:2] or q.shape[3] != k.shape[3]:
        raise ValueError(
            f"incompatible shapes q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if k.shape[2] == 0:
        raise ValueError("attention needs at least one key")
    if causal and q.shape[2] > k.shape[2]:
        raise ValueError(f"causal attention needs Tq <= Tk, got Tq={q.shape[2]}, Tk={k.shape[2]}")


def causal_mask(t_q: int, t_k: int, device: torch.device | None = None) -> Tensor:
    """(Tq, Tk) bool, True where query i may see key j (bottom-right aligned)."""
    rows = torch.arange(t_q, device=device)[:, None] + (t_k - t_q)
    return torch.arange(t_k, device=device)[None, :] <= rows


def naive_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False) -> Tensor:
    """softmax(q k^T / sqrt(D)) v with the full (Tq, Tk) score matrix in memory."""
    check_qkv(q, k, v, causal)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    if causal:
        scores = scores.masked_fill(~causal_mask(q.shape[2], k.shape[2], q.device), float("-inf"))
    return torch.softmax(scores.float(), dim=-1).to(q.dtype) @ v  # (B, H, Tq, D)


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, causal: bool = False) -> Tensor:
    """PyTorch's fused attention, forced onto its flash backend for half precision on CUDA."""
    check_qkv(q, k, v, causal)
    if causal and q.shape[2] != k.shape[2]:
        mask = causal_mask(q.shape[2], k.shape[2], q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16):
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def tiled_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, block: int = 64
) -> tuple[Tensor, Tensor]:
    """Attention over key blocks of `block` with an online softmax.

    Only a (Tq, block) slice of scores exists at any time. Returns the output
    (B, H, Tq, D) in q's dtype and the log-sum-exp of each query's scores (B, H, Tq),
    float32, which is all the backward pass needs to rebuild the probabilities.
    """
    check_qkv(q, k, v, causal)
    t_q, t_k = q.shape[2], k.shape[2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    row_max = torch.full(q.shape[:3], float("-inf"), device=q.device)  # (B, H, Tq)
    row_sum = torch.zeros(q.shape[:3], device=q.device)  # (B, H, Tq)
    acc = torch.zeros(q.shape, device=q.device)  # (B, H, Tq, D) float32
    mask = causal_mask(t_q, t_k, q.device) if causal else None
    for start in range(0, t_k, block):
        k_blk, v_blk = k[:, :, start : start + block], v[:, :, start : start + block]
        scores = (q @ k_blk.transpose(-2, -1)).float() * scale  # (B, H, Tq, b)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, start : start + block], float("-inf"))
        new_max = torch.maximum(row_max, scores.amax(dim=-1))
        safe_max = new_max.masked_fill(new_max == float("-inf"), 0.0)  # rows with no key yet
        p = torch.exp(scores - safe_max[..., None])  # (B, H, Tq, b)
        rescale = torch.exp(row_max - safe_max)  # shrinks what was summed under the old max
        row_sum = row_sum * rescale + p.sum(dim=-1)
        acc = acc * rescale[..., None] + p.to(v.dtype) @ v_blk
        row_max = new_max
    return (acc / row_sum[..., None]).to(q.dtype), row_max + torch.log(row_sum)


def tiled_attention_backward(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    lse: Tensor,
    grad_out: Tensor,
    causal: bool = False,
    block: int = 64,
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of attention for q, k, v, rebuilding probabilities block by block.

    FlashAttention-2's recipe: P = exp(S - lse) from the saved log-sum-exp, then
    dV = P^T dO, dP = dO V^T, dS = P * (dP - rowsum(dO * O)), dQ = dS K, dK = dS^T Q
    (both times the softmax scale). Memory stays O(Tq * block).
    """
    t_q, t_k = q.shape[2], k.shape[2]
    scale = 1.0 / math.sqrt(q.shape[-1])
    qf, do = q.float(), grad_out.float()
    delta = (do * out.float()).sum(dim=-1, keepdim=True)  # (B, H, Tq, 1)
    dq = torch.zeros_like(qf)
    dk, dv = torch.zeros_like(k, dtype=torch.float32), torch.zeros_like(v, dtype=torch.float32)
    mask = causal_mask(t_q, t_k, q.device) if causal else None
    for start in range(0, t_k, block):
        stop = min(start + block, t_k)
        k_blk, v_blk = k[:, :, start:stop].float(), v[:, :, start:stop].float()
        scores = qf @ k_blk.transpose(-2, -1) * scale  # (B, H, Tq, b)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, start:stop], float("-inf"))
        p = torch.exp(scores - lse[..., None])  # (B, H, Tq, b)
        dv[:, :, start:stop] = p.transpose(-2, -1) @ do
        d_scores = p * (do @ v_blk.transpose(-2, -1) - delta) * scale  # (B, H, Tq, b)
        dq += d_scores @ k_blk
        dk[:, :, start:stop] = d_scores.transpose(-2, -1) @ qf
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)
