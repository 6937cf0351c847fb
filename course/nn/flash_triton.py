"""FlashAttention in Triton: the forward kernel, and FlashAttention-2's backward kernels.

One program computes one (BLOCK_M, D) tile of the output for one (batch, head): it keeps
its query tile in fast on-chip memory, streams key and value tiles past it, and updates a
running maximum, a running sum and an unnormalised output (the online softmax). The
(T, T) score matrix never exists in the GPU's main memory.

Without CUDA, importing this module switches Triton to its interpreter
(``TRITON_INTERPRET=1``), which runs the same kernel with NumPy on the CPU: slow, but
exact enough to test the kernel on tiny shapes. Triton reads that switch when it is first
imported, and ``torch.compile`` imports it too: import this module first. With the
interpreter off the kernel is compiled for the GPU and every tensor it sees must live there.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import torch
from torch import Tensor

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton
import triton.language as tl

from course.nn.tiled_attention import tiled_attention_backward

#: dtypes the kernel accepts.
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
#: head dimensions the kernel accepts (tl.arange needs a power of two).
HEAD_DIMS = (16, 32, 64, 128)


class LaunchConfig(NamedTuple):
    """Tile sizes and the GPU resources of one launch."""

    block_m: int  # queries per program
    block_n: int  # keys per step of the inner loop
    num_warps: int  # 32 threads each, per program
    num_stages: int  # key/value tiles in flight (software pipelining)


def launch_config(dtype: torch.dtype, head_dim: int) -> LaunchConfig:
    """The tiles for one dtype and head dim: within shared memory, without register spills.

    A program keeps its query tile, its output accumulator (BLOCK_M, D) in float32 and
    one key and one value tile in registers, and `num_stages` key/value tiles in shared
    memory. Every tile grows with D, and float32 tiles are twice the bytes of half ones
    and multiply on the slower non-tensor-core path. So half precision at D <= 64 takes
    128 queries over 8 warps (4 would spill) and three stages; at D = 128, 64 queries over
    4 warps; float32 uses 8 warps (twice the threads to share the registers) and 32 keys
    per step, and at D = 128 also 32 queries. Larger float32 tiles spill registers (the
    first version's 64 x 64 at D = 128 did). tests/test_flash_compile.py compiles these
    for sm_80 and sm_90 and checks shared memory and spills.
    """
    half = dtype in (torch.float16, torch.bfloat16)
    if half and head_dim <= 64:
        return LaunchConfig(block_m=128, block_n=64, num_warps=8, num_stages=3)
    if half:
        return LaunchConfig(block_m=64, block_n=64, num_warps=4, num_stages=3)
    if head_dim <= 64:
        return LaunchConfig(block_m=64, block_n=32, num_warps=8, num_stages=2)
    return LaunchConfig(block_m=32, block_n=32, num_warps=8, num_stages=2)


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
        safe_max = tl.where(new_max == float("-inf"), 0.0, new_max)  # rows with no key yet
        p = tl.exp2(scores - safe_max[:, None])
        rescale = tl.exp2(row_max - safe_max)
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


def interpreting() -> bool:
    """True when Triton runs kernels in its CPU interpreter (TRITON_INTERPRET=1)."""
    return bool(triton.knobs.runtime.interpret)


def check_qkv(q: Tensor, k: Tensor, v: Tensor, causal: bool) -> None:
    """Raise one clear error when the kernel cannot attend q, k, v together."""
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
    if not (q.dtype == k.dtype == v.dtype) or q.dtype not in DTYPES:
        raise TypeError(
            f"q, k, v must share one dtype of {DTYPES}, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if q.shape[3] not in HEAD_DIMS:
        raise ValueError(f"head dim must be one of {HEAD_DIMS}, got {q.shape[3]}")
    devices = {str(x.device) for x in (q, k, v)}
    if len(devices) > 1:
        raise ValueError(f"q, k, v must be on one device, got {sorted(devices)}")
    if not interpreting() and not q.is_cuda:
        raise ValueError(
            f"q, k, v are on {q.device}, but Triton's interpreter is off, so the kernel is "
            "compiled for the GPU: move them to CUDA (or set TRITON_INTERPRET=1 before "
            "importing Triton to run it on the CPU)"
        )


def flash_forward(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False,
    block_m: int | None = None, block_n: int | None = None,
) -> tuple[Tensor, Tensor]:  # fmt: skip
    """Run the kernel: output (B, H, Tq, D) in q's dtype and log-sum-exp (B, H, Tq) float32.

    Tiles default to :func:`launch_config` for q's dtype and head dim; any Tq, Tk (tails
    are masked).
    """
    check_qkv(q, k, v, causal)
    b, h, t_q, d = q.shape
    config = launch_config(q.dtype, d)
    config = config._replace(block_m=block_m or config.block_m, block_n=block_n or config.block_n)
    t_k = k.shape[2]
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    out = torch.empty_like(q)
    lse = torch.empty((b, h, t_q), device=q.device, dtype=torch.float32)
    grid = (triton.cdiv(t_q, config.block_m), b * h)
    precision = "ieee" if q.dtype == torch.float32 else "tf32"  # no TF32 rounding of fp32
    upcast = q.dtype == torch.bfloat16 and interpreting()
    _flash_forward_kernel[grid](
        q, k, v, out, lse, t_q, t_k, 1.0 / math.sqrt(d),
        CAUSAL=causal, BLOCK_M=config.block_m, BLOCK_N=config.block_n, HEAD_DIM=d,
        PRECISION=precision, UPCAST=upcast,
        num_warps=config.num_warps, num_stages=config.num_stages,
    )  # fmt: skip
    return out, lse


def backward_launch_config(dtype: torch.dtype, head_dim: int) -> LaunchConfig:
    """Tiles of the two backward kernels, smaller than the forward's: a program holds two
    float32 accumulators (dK and dV) and four input tiles at once. 32 keys per program
    keep the dK/dV kernel from spilling registers (64 spilled on sm_80), 8 warps share
    the registers, and float32 fits only one stage beside its tiles, with 16 queries per
    step at D = 128 (32 spilled on sm_90)."""
    if dtype in (torch.float16, torch.bfloat16):
        return LaunchConfig(block_m=64, block_n=32, num_warps=8, num_stages=2)
    if head_dim <= 64:
        return LaunchConfig(block_m=32, block_n=32, num_warps=8, num_stages=1)
    return LaunchConfig(block_m=16, block_n=32, num_warps=8, num_stages=1)


@triton.jit
def _flash_backward_dkdv_kernel(
    Q, K, V, DO, LSE, DELTA, DK, DV,  # q do (BH, Tq, D), k v dk dv (BH, Tk, D), lse delta (BH, Tq)
    t_q, t_k, scale,
    CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HEAD_DIM: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """One (BLOCK_N, D) tile of dK and dV: stream the query tiles that see these keys."""
    tile, bh = tl.program_id(0), tl.program_id(1)
    keys = tile * BLOCK_N + tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    q_base, k_base = bh.to(tl.int64) * t_q * HEAD_DIM, bh.to(tl.int64) * t_k * HEAD_DIM
    key_ok = keys[:, None] < t_k
    kv_offsets = k_base + keys[:, None] * HEAD_DIM + dims[None, :]
    k = tl.load(K + kv_offsets, mask=key_ok, other=0.0)  # (BLOCK_N, D)
    v = tl.load(V + kv_offsets, mask=key_ok, other=0.0)
    if UPCAST:  # the interpreter's dot mishandles bf16
        k, v = k.to(tl.float32), v.to(tl.float32)
    dk = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)
    dv = tl.zeros([BLOCK_N, HEAD_DIM], tl.float32)
    offset = t_k - t_q  # causal masks align bottom-right
    first = 0
    if CAUSAL:  # queries before (first key - offset) see none of these keys: skip them
        first = tl.maximum(0, tile * BLOCK_N - offset) // BLOCK_M * BLOCK_M
    for start in range(first, t_q, BLOCK_M):
        rows = start + tl.arange(0, BLOCK_M)
        row_ok = rows < t_q
        q_offsets = q_base + rows[:, None] * HEAD_DIM + dims[None, :]
        q = tl.load(Q + q_offsets, mask=row_ok[:, None], other=0.0)  # (BLOCK_M, D)
        do = tl.load(DO + q_offsets, mask=row_ok[:, None], other=0.0)
        if UPCAST:
            q, do = q.to(tl.float32), do.to(tl.float32)
        lse = tl.load(LSE + bh.to(tl.int64) * t_q + rows, mask=row_ok, other=0.0)
        delta = tl.load(DELTA + bh.to(tl.int64) * t_q + rows, mask=row_ok, other=0.0)
        scores = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale  # (BLOCK_M, BLOCK_N)
        visible = row_ok[:, None] & (keys[None, :] < t_k)
        if CAUSAL:
            visible = visible & (keys[None, :] <= rows[:, None] + offset)
        p = tl.where(visible, tl.exp(scores - lse[:, None]), 0.0)  # the forward's probabilities
        dv += tl.dot(tl.trans(p.to(do.dtype)), do, input_precision=PRECISION)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)  # (BLOCK_M, BLOCK_N)
        ds = p * (dp - delta[:, None]) * scale
        dk += tl.dot(tl.trans(ds.to(q.dtype)), q, input_precision=PRECISION)
    tl.store(DK + kv_offsets, dk.to(DK.dtype.element_ty), mask=key_ok)
    tl.store(DV + kv_offsets, dv.to(DV.dtype.element_ty), mask=key_ok)


@triton.jit
def _flash_backward_dq_kernel(
    Q, K, V, DO, LSE, DELTA, DQ,
    t_q, t_k, scale,
    CAUSAL: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    HEAD_DIM: tl.constexpr, PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """One (BLOCK_M, D) tile of dQ: stream the key tiles these queries see."""
    tile, bh = tl.program_id(0), tl.program_id(1)
    rows = tile * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, HEAD_DIM)
    q_base, k_base = bh.to(tl.int64) * t_q * HEAD_DIM, bh.to(tl.int64) * t_k * HEAD_DIM
    row_ok = rows < t_q
    q_offsets = q_base + rows[:, None] * HEAD_DIM + dims[None, :]
    q = tl.load(Q + q_offsets, mask=row_ok[:, None], other=0.0)  # (BLOCK_M, D)
    do = tl.load(DO + q_offsets, mask=row_ok[:, None], other=0.0)
    if UPCAST:
        q, do = q.to(tl.float32), do.to(tl.float32)
    lse = tl.load(LSE + bh.to(tl.int64) * t_q + rows, mask=row_ok, other=0.0)
    delta = tl.load(DELTA + bh.to(tl.int64) * t_q + rows, mask=row_ok, other=0.0)
    dq = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)
    offset = t_k - t_q
    stop = t_k
    if CAUSAL:  # keys past the tile's last query are all masked: skip them
        stop = tl.minimum(t_k, (tile + 1) * BLOCK_M + offset)
    for start in range(0, stop, BLOCK_N):
        keys = start + tl.arange(0, BLOCK_N)
        key_ok = keys[:, None] < t_k
        kv_offsets = k_base + keys[:, None] * HEAD_DIM + dims[None, :]
        k = tl.load(K + kv_offsets, mask=key_ok, other=0.0)  # (BLOCK_N, D)
        v = tl.load(V + kv_offsets, mask=key_ok, other=0.0)
        if UPCAST:
            k, v = k.to(tl.float32), v.to(tl.float32)
        scores = tl.dot(q, tl.trans(k), input_precision=PRECISION) * scale
        visible = row_ok[:, None] & (keys[None, :] < t_k)
        if CAUSAL:
            visible = visible & (keys[None, :] <= rows[:, None] + offset)
        p = tl.where(visible, tl.exp(scores - lse[:, None]), 0.0)
        dp = tl.dot(do, tl.trans(v), input_precision=PRECISION)
        ds = p * (dp - delta[:, None]) * scale
        dq += tl.dot(ds.to(k.dtype), k, input_precision=PRECISION)
    tl.store(DQ + q_offsets, dq.to(DQ.dtype.element_ty), mask=row_ok[:, None])


def flash_backward(
    q: Tensor, k: Tensor, v: Tensor, out: Tensor, lse: Tensor, grad_out: Tensor,
    causal: bool = False, block_m: int | None = None, block_n: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """FlashAttention-2's backward in Triton: (dq, dk, dv) shaped and typed like q, k, v.

    delta = rowsum(dO * O) first (one line of PyTorch), then two kernels that rebuild the
    probabilities from lse: one program per key tile accumulates dK and dV over the
    query tiles, one per query tile accumulates dQ over the key tiles. No atomics.
    """
    check_qkv(q, k, v, causal)
    b, h, t_q, d = q.shape
    t_k = k.shape[2]
    config = backward_launch_config(q.dtype, d)
    config = config._replace(block_m=block_m or config.block_m, block_n=block_n or config.block_n)
    q, k, v, grad_out = (x.contiguous() for x in (q, k, v, grad_out))
    delta = (grad_out.float() * out.float()).sum(dim=-1).contiguous()  # (B, H, Tq)
    lse = lse.contiguous()
    dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
    meta = {
        "CAUSAL": causal, "BLOCK_M": config.block_m, "BLOCK_N": config.block_n,
        "HEAD_DIM": d, "PRECISION": "ieee" if q.dtype == torch.float32 else "tf32",
        "UPCAST": q.dtype == torch.bfloat16 and interpreting(),
        "num_warps": config.num_warps, "num_stages": config.num_stages,
    }  # fmt: skip
    scale = 1.0 / math.sqrt(d)
    _flash_backward_dkdv_kernel[(triton.cdiv(t_k, config.block_n), b * h)](
        q, k, v, grad_out, lse, delta, dk, dv, t_q, t_k, scale, **meta
    )
    _flash_backward_dq_kernel[(triton.cdiv(t_q, config.block_m), b * h)](
        q, k, v, grad_out, lse, delta, dq, t_q, t_k, scale, **meta
    )
    return dq, dk, dv


#: Backward passes of :func:`flash_attention`: the Triton kernels, or tiled PyTorch.
BACKWARDS = ("triton", "pytorch")


class FlashAttention(torch.autograd.Function):
    """Triton forward; the backward recomputes probabilities tile by tile from the saved lse,
    in Triton (:func:`flash_backward`) or in PyTorch (``tiled_attention_backward``)."""

    @staticmethod
    def forward(
        ctx, q: Tensor, k: Tensor, v: Tensor, causal: bool, block: int | None, backward: str
    ) -> Tensor:  # type: ignore[override]
        out, lse = flash_forward(q, k, v, causal, block, block)
        ctx.save_for_backward(q, k, v, out, lse)
        ctx.causal, ctx.block, ctx.backward_kind = causal, block, backward
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        q, k, v, out, lse = ctx.saved_tensors
        if ctx.backward_kind == "triton":
            dq, dk, dv = flash_backward(
                q, k, v, out, lse, grad_out, ctx.causal, ctx.block, ctx.block
            )
        else:
            dq, dk, dv = tiled_attention_backward(q, k, v, out, lse, grad_out, causal=ctx.causal)
        return dq, dk, dv, None, None, None


def flash_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = False, block: int | None = None,
    backward: str = "triton",
) -> Tensor:  # fmt: skip
    """Differentiable FlashAttention: q (B, H, Tq, D), k and v (B, H, Tk, D) -> (B, H, Tq, D).

    ``backward`` picks the backward pass, ``"triton"`` or ``"pytorch"`` (tiled).
    """
    if backward not in BACKWARDS:
        raise ValueError(f"backward must be one of {BACKWARDS}, got {backward!r}")
    return FlashAttention.apply(q, k, v, causal, block, backward)
