"""Everything chapter 11 plots, measured on whatever device is present.

`make bench-gpu` (or `python -m benchmarks gpu`). On CUDA: causal attention forward and
forward+backward time and peak memory for T = 512 .. 16384, head dims 64 and 128, bf16,
for naive attention, PyTorch's sdpa on its flash backend and the course's Triton
forward with each backward (Triton, and tiled PyTorch); training tokens/s and MFU of an
~85M-parameter GPT on the course corpus and the validation loss it reaches in a fixed time budget
(GPU_LAB_TRAIN_SECONDS, default 600); greedy generation tokens/s with and without the
KV cache for 256 .. 2048 new tokens.

On CPU, the same measurements at toy sizes: naive against tiled (online-softmax)
attention, a tiny model's training, cached against uncached generation. The Triton
kernel is not timed on CPU: its interpreter checks correctness, not speed.

Timing follows triton.testing.do_bench: warm-up calls first, then the median of
repeated calls (on CUDA, do_bench itself). Results go to
benchmarks/results/gpu_lab.json under the device's name, so runs on different machines
sit side by side; a new run replaces only its own device's entry.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from course.nn.gpt import GPT, GPTConfig
from course.nn.kv_cache import generate, generate_with_cache
from course.nn.tiled_attention import naive_attention, peak_memory, tiled_attention
from course.train import TrainConfig, char_corpus, train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gpu_lab.json"
MIB = 2**20

#: Dense bf16 (fp16 for the T4) tensor-core peak in FLOP/s, for MFU. The first name
#: that occurs in the device's name wins, so the PCIe and NVL H100s come before the SXM.
PEAK_FLOPS = {
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H100": 989e12,  # SXM (reported as "H100 80GB HBM3")
    "H200": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "L4": 121e12,
    "A10G": 70e12,
    "T4": 65e12,
}


def device_name(device: torch.device) -> str:
    """A readable name: the GPU's model, or the CPU's architecture and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def peak_flops(name: str) -> float | None:
    """The GPU's dense half-precision peak, or None when this table does not know it."""
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)


def median_ms(fn: Callable[[], object], device: torch.device, warmup: int = 2, rep: int = 5):
    """Median milliseconds of ``fn()``: do_bench on CUDA, warm-up then median on CPU."""
    if device.type == "cuda":
        from triton.testing import do_bench

        return do_bench(fn, warmup=25, rep=100)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rep):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def attention_kernels(device: torch.device) -> dict[str, Callable[..., torch.Tensor]]:
    """name -> causal attention f(q, k, v) for this device."""
    kernels: dict[str, Callable[..., torch.Tensor]] = {
        "naive": lambda q, k, v: naive_attention(q, k, v, causal=True),
    }
    if device.type != "cuda":
        kernels["tiled"] = lambda q, k, v: tiled_attention(
            q, k, v, causal=True, block_q=128, block_k=128
        )
        return kernels
    from course.nn.flash_triton import flash_attention

    def sdpa_flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    kernels["sdpa-flash"] = sdpa_flash
    kernels["triton fwd+bwd"] = lambda q, k, v: flash_attention(q, k, v, True, backward="triton")
    # the backward of this row is tiled PyTorch, not Triton: its label says so
    kernels["triton fwd + PyTorch tiled bwd"] = lambda q, k, v: flash_attention(
        q, k, v, True, backward="pytorch"
    )
    return kernels


def measure_attention(
    kernel: Callable[..., torch.Tensor], shape: tuple[int, int, int, int], dtype: torch.dtype,
    backward: bool, device: torch.device,
) -> dict[str, Any]:  # fmt: skip
    """Time and peak memory of one kernel at one shape; {'oom': True} if it does not fit."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape, generator=gen).to(device, dtype) for _ in range(3))
    if backward:
        q, k, v = (x.requires_grad_() for x in (q, k, v))
        grad = torch.randn(shape, generator=gen).to(device, dtype)

        def call() -> object:  # gradients returned, not accumulated into .grad
            return torch.autograd.grad(kernel(q, k, v), (q, k, v), grad)
    else:

        def call() -> object:
            with torch.no_grad():
                return kernel(q, k, v)

    try:
        ms = median_ms(call, device)
        peak = peak_memory(call, device)
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return {"oom": True}
    return {"ms": round(ms, 3), "peak_mib": round(peak / MIB, 2)}


def attention_matrix(device: torch.device) -> list[dict[str, Any]]:
    """Every kernel x length x head dim x pass this device can afford."""
    if device.type == "cuda":  # T = 512 .. 16384, bf16, forward and forward+backward
        lengths, dims, dtype, heads = [512 * 2**i for i in range(6)], [64, 128], torch.bfloat16, 16
        passes = [False, True]
    else:
        lengths, dims, dtype, heads = [256, 512, 1024, 2048], [64], torch.float32, 4
        passes = [False]
    records = []
    for backward in passes:
        for d in dims:
            for t in lengths:
                for name, kernel in attention_kernels(device).items():
                    result = measure_attention(kernel, (1, heads, t, d), dtype, backward, device)
                    records.append({
                        "kernel": name, "seq_len": t, "head_dim": d, "batch": 1,
                        "heads": heads, "dtype": str(dtype).removeprefix("torch."),
                        "pass": "forward+backward" if backward else "forward", **result,
                    })  # fmt: skip
    return records


def training_setup(device: torch.device, vocab: int) -> tuple[GPTConfig, TrainConfig]:
    """~85M parameters on CUDA (12 layers, width 768, 1024 tokens); a toy on CPU."""
    if device.type == "cuda":
        budget = float(os.environ.get("GPU_LAB_TRAIN_SECONDS", "600"))
        model = GPTConfig(vocab_size=vocab, block_size=1024, n_layer=12, n_head=12, d_model=768)
        train_config = TrainConfig(
            steps=100_000, batch_size=16, grad_accum=4, max_lr=6e-4, min_lr=6e-5, warmup=100,
            eval_every=250, eval_batches=8, compile=True, time_budget_s=budget,
        )  # fmt: skip
        return model, train_config
    model = GPTConfig(vocab_size=vocab, block_size=64, n_layer=2, n_head=2, d_model=64)
    return model, TrainConfig(steps=30, batch_size=8, eval_every=30, eval_batches=2)


def training_run(device: torch.device) -> dict[str, Any]:
    """Tokens/s, MFU (where the GPU's peak is known) and the validation loss reached.

    Both rates count optimiser steps only: not the first (compilation, warm-up), not
    the evaluations. The schedule runs on the clock, so it ends when the budget does.
    """
    corpus = char_corpus()
    model_config, config = training_setup(device, len(corpus.alphabet))
    torch.manual_seed(0)
    model = GPT(model_config).to(device)
    history = train(model, corpus.train, corpus.validation, config, progress=False)
    m = model_config
    matmul_params = model.num_params() - model.pos_emb.weight.numel()  # the tied head multiplies
    flops_per_token = 6 * matmul_params + 12 * m.n_layer * m.d_model * m.block_size
    peak = peak_flops(device_name(device))
    every = max(1, len(history.train_loss) // 200)
    return {
        "params_millions": round(model.num_params() / 1e6, 2),
        "config": {k: getattr(m, k) for k in ("n_layer", "d_model", "n_head", "block_size")},
        "steps": len(history.train_loss),
        "train_seconds": round(history.train_seconds, 1),
        "tokens_per_s": round(history.tokens_per_s),
        "mfu": None if peak is None else round(history.tokens_per_s * flops_per_token / peak, 4),
        "peak_flops": peak,
        "val_loss": round(history.eval_val[-1], 4),
        "loss_curve": [round(x, 4) for x in history.train_loss[::every]],
    }


def generation_speed(device: torch.device) -> list[dict[str, Any]]:
    """Greedy generation tokens/s with and without the KV cache (median after warm-up)."""
    torch.manual_seed(0)
    if device.type == "cuda":
        new_tokens, prompt_len, dtype = [256, 512, 1024, 2048], 16, torch.bfloat16
        config = GPTConfig(vocab_size=256, block_size=2048 + prompt_len, n_layer=12,
                           n_head=12, d_model=768)  # fmt: skip
    else:
        new_tokens, prompt_len, dtype = [32, 64, 128, 256], 16, torch.float32
        config = GPTConfig(vocab_size=256, block_size=256 + prompt_len, n_layer=2, n_head=4,
                           d_model=128)  # fmt: skip
    model = GPT(config).to(device, dtype).eval()
    prompt = torch.randint(0, config.vocab_size, (1, prompt_len), device=device)
    records = []
    for n in new_tokens:
        for cached, run in ((True, generate_with_cache), (False, generate)):
            ms = median_ms(lambda n=n, run=run: run(model, prompt, n), device, warmup=1, rep=3)
            rate = round(n / (ms / 1e3), 1)
            records.append({"new_tokens": n, "kv_cache": cached, "tokens_per_s": rate})
    return records


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = device_name(device)
    print(f"GPU lab benchmarks on {name}...", flush=True)
    run = {
        "device": name,
        "device_type": device.type,
        "torch": torch.__version__,
        "attention": attention_matrix(device),
        "training": training_run(device),
        "generation": generation_speed(device),
    }
    runs = json.loads(RESULTS.read_text())["runs"] if RESULTS.exists() else {}
    runs[name] = run
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"runs": runs}, indent=1) + "\n")
    print(f"recorded {name} in {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
