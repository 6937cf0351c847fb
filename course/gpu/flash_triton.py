"""FlashAttention's forward pass as a Triton kernel, with a tiled PyTorch backward.

One program computes one (BLOCK_M, D) tile of the output for one (batch, head): it keeps
its query tile in fast on-chip memory, streams key and value tiles past it, and updates a
running maximum, a running sum and an unnormalised output (the online softmax). The
(T, T) score matrix never exists in the GPU's main memory.

Without CUDA, importing this module switches Triton to its interpreter
(``TRITON_INTERPRET=1``), which runs the same kernel with NumPy on the CPU: slow, but
exact enough to test the kernel on tiny shapes.
"""

from __future__ import annotations

import math
import os

import torch
from torch import Tensor

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton
import triton.language as tl

from course.gpu.attention import check_qkv, tiled_attention_backward

#: dtypes the kernel accepts.
DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _flash_forward_kernel(
    Q, K, V, Out, LSE,  # pointers: q (BH, Tq, D), k and v (BH, Tk, D), o like q, lse (BH, Tq)
    t_q, t_k, scale,
    CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HEAD_DIM: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    tile, bh = tl.program_id(0), tl.program_id(1)
    rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)  # query positions of this tile
    cols = tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    q_base, k_base = bh.to(tl.int64) * t_q * HEAD_DIM, bh.to(tl.int64) * t_k * HEAD_DIM
    row_ok = rows[:, None] < t_q
    q = tl.load(Q + q_base + rows[:, None] * HEAD_DIM + dims[None, :], mask=row_ok, other=0.0)

    row_max = tl.full([BLOCK_M], float("-inf"), tl.float32)
    row_sum = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    qk_scale = scale * 1.4426950408889634  # exp(x) = exp2(x * log2 e); GPUs compute exp2 natively
    offset = t_k - t_q  # causal masks align bottom-right
    stop = t_k
    if CAUSAL:  # keys past the tile's last query are all masked: skip them
        stop = tl.minimum(t_k, (tile + 1) * BLOCK_M + offset)
    for start in range(0, stop, BLOCK_N):
        keys = start + cols
        key_ok = keys[None, :] < t_k
        k = tl.load(K + k_base + keys[None, :] * HEAD_DIM + dims[:, None], mask=key_ok, other=0.0)
        v = tl.load(
            V + k_base + keys[:, None] * HEAD_DIM + dims[None, :],
            mask=keys[:, None] < t_k,
            other=0.0,
        )
        if UPCAST:  # the interpreter's dot mishandles bf16: multiply the same values in fp32
            scores = tl.dot(q.to(tl.float32), k.to(tl.float32), input_precision=PRECISION)
        else:
            scores = tl.dot(q, k, input_precision=PRECISION)
        scores = scores * qk_scale  # (BLOCK_M, BLOCK_N)
        visible = key_ok
        if CAUSAL:
            visible = visible & (keys[None, :] <= rows[:, None] + offset)
        scores = tl.where(visible, scores, float("-inf"))
        new_max = tl.maximum(row_max, tl.max(scores, 1))
        p = tl.exp2(scores - new_max[:, None])
        rescale = tl.exp2(row_max - new_max)
        row_sum = row_sum * rescale + tl.sum(p, 1)
        p_v = p.to(v.dtype)  # rounded like the GPU's tensor-core input
        if UPCAST:
            acc = acc * rescale[:, None] + tl.dot(
                p_v.to(tl.float32), v.to(tl.float32), input_precision=PRECISION
            )
        else:
            acc = acc * rescale[:, None] + tl.dot(p_v, v, input_precision=PRECISION)
        row_max = new_max

    out = acc / row_sum[:, None]
    tl.store(
        Out + q_base + rows[:, None] * HEAD_DIM + dims[None, :],
        out.to(Out.dtype.element_ty),
        mask=row_ok,
    )
    lse = (row_max + tl.log2(row_sum)) * 0.6931471805599453  # back to natural log
    tl.store(LSE + bh.to(tl.int64) * t_q + rows, lse, mask=rows < t_q)


def flash_forward(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, block_m: int = 64, block_n: int = 64
) -> tuple[Tensor, Tensor]:
    """Run the kernel: output (B, H, Tq, D) in q's dtype and log-sum-exp (B, H, Tq) float32.

    D must be a power of two from 16 to 128; any Tq, Tk (tails are masked).
    """
    check_qkv(q, k, v, causal)
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in DTYPES:
        raise TypeError(
            f"q, k, v must share one dtype of {DTYPES}, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    b, h, t_q, d = q.shape
    if d not in (16, 32, 64, 128):
        raise ValueError(f"head dim must be 16, 32, 64 or 128, got {d}")
    t_k = k.shape[2]
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    out = torch.empty_like(q)
    lse = torch.empty((b, h, t_q), device=q.device, dtype=torch.float32)
    grid = (triton.cdiv(t_q, block_m), b * h)
    precision = "ieee" if q.dtype == torch.float32 else "tf32"
    upcast = q.dtype == torch.bfloat16 and os.environ.get("TRITON_INTERPRET") == "1"
    _flash_forward_kernel[grid](
        q, k, v, out, lse, t_q, t_k, 1.0 / math.sqrt(d),
        CAUSAL=causal, BLOCK_M=block_m, BLOCK_N=block_n, HEAD_DIM=d,
        PRECISION=precision, UPCAST=upcast,
    )  # fmt: skip
    return out, lse


class FlashAttention(torch.autograd.Function):
    """Triton forward; backward recomputes probabilities tile by tile from the saved lse."""

    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, v: Tensor, causal: bool, block: int) -> Tensor:  # type: ignore[override]
        out, lse = flash_forward(q, k, v, causal, block, block)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.causal, ctx.block = causal, block
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        q, k, v, out, lse = ctx.saved_tensors
        backward_block = max(ctx.block, 512)  # bigger PyTorch tiles: fewer Python steps
        dq, dk, dv = tiled_attention_backward(
            q, k, v, out, lse, grad_out, ctx.causal, backward_block
        )
        return dq, dk, dv, None, None


def flash_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, block: int = 64
) -> Tensor:
    """Differentiable FlashAttention: q (B, H, Tq, D), k and v (B, H, Tk, D) -> (B, H, Tq, D)."""
    return FlashAttention.apply(q, k, v, causal, block)
