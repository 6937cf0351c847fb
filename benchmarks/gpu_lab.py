"""The GPU lab's measurements: attention kernels, training throughput, KV-cache generation.

On CUDA: causal attention forward and forward+backward time and peak memory for
T = 512 .. 16384, head dims 64 and 128, bf16, for naive attention, PyTorch's sdpa on its
flash backend and the lab's Triton kernel; training tokens/s and MFU of a ~85M-parameter
GPT in a fixed time budget (GPU_LAB_TRAIN_SECONDS, default 600) and the validation loss
it reaches; generation tokens/s with and without the KV cache for 256 .. 2048 new tokens.

On CPU, the parts that make sense at small sizes: naive against tiled (online-softmax)
attention, forward time and peak memory; a tiny model's training tokens/s; cached against
uncached generation. The Triton kernel is not timed on CPU: its interpreter checks
correctness, not speed.

Results go to benchmarks/results/gpu_lab.json under the device's name, so runs on
different machines sit side by side; a new run replaces only its own device's entry.
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
from tqdm import tqdm

from course.gpu.attention import naive_attention, tiled_attention
from course.gpu.kv_cache import generate
from course.gpu.memory import peak_bytes
from course.gpu.model import GPT, GPTConfig
from course.gpu.train import TrainConfig, corpus_splits, train

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "gpu_lab.json"
MIB = 2**20

#: Dense bf16 tensor-core peak (FLOP/s) of GPUs the lab may meet, for MFU.
PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10G": 70e12}


def device_name(device: torch.device) -> str:
    """A readable name: the GPU's model, or the CPU's architecture and core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.machine()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def attention_kernels(device: torch.device) -> dict[str, Callable[..., torch.Tensor]]:
    """name -> causal attention f(q, k, v) for this device."""
    if device.type != "cuda":
        return {
            "naive": lambda q, k, v: naive_attention(q, k, v, causal=True),
            "tiled": lambda q, k, v: tiled_attention(q, k, v, causal=True, block=128)[0],
        }
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from course.gpu.flash_triton import flash_attention

    def sdpa_flash(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            return F.scaled_dot_product_attention(q, k, v, is_causal=True)

    return {
        "naive": lambda q, k, v: naive_attention(q, k, v, causal=True),
        "sdpa-flash": sdpa_flash,
        "triton": lambda q, k, v: flash_attention(q, k, v, causal=True),
    }


def measure_attention(
    kernel: Callable[..., torch.Tensor], shape: tuple[int, int, int, int], dtype: torch.dtype,
    backward: bool, device: torch.device, repeats: int,
) -> dict[str, Any]:  # fmt: skip
    """Time and peak memory of one kernel at one shape; {'oom': True} if it does not fit."""
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(shape, generator=gen).to(device, dtype) for _ in range(3))
    if backward:
        q, k, v = (x.requires_grad_() for x in (q, k, v))
        grad = torch.randn(shape, generator=gen).to(device, dtype)

        def call() -> None:
            torch.autograd.backward(kernel(q, k, v), grad)
    else:

        def call() -> None:
            with torch.no_grad():
                kernel(q, k, v)

    try:
        seconds = median_seconds(call, device, repeats)
        peak = peak_bytes(call, device)
    except torch.OutOfMemoryError:
        torch.cuda.empty_cache()
        return {"oom": True}
    return {"ms": round(seconds * 1e3, 3), "peak_mib": round(peak / MIB, 2)}


def attention_matrix(device: torch.device) -> list[dict[str, Any]]:
    """Every kernel x length x head dim x pass this device can afford."""
    if device.type == "cuda":
        lengths, dims, dtype, batch, heads, repeats = (
            [512 * 2**i for i in range(6)],
            [64, 128],
            torch.bfloat16,
            1,
            16,
            5,
        )
        passes = [False, True]
    else:
        lengths, dims, dtype, batch, heads, repeats = (
            [256, 512, 1024, 2048],
            [64],
            torch.float32,
            1,
            4,
            3,
        )
        passes = [False]
    records = []
    jobs = [
        (name, kernel, t, d, backward)
        for backward in passes
        for d in dims
        for t in lengths
        for name, kernel in attention_kernels(device).items()
    ]
    for name, kernel, t, d, backward in tqdm(jobs, desc="attention", leave=False):
        shape = (batch, heads, t, d)
        result = measure_attention(kernel, shape, dtype, backward, device, repeats)
        records.append({
            "kernel": name, "seq_len": t, "head_dim": d, "batch": batch, "heads": heads,
            "dtype": str(dtype).removeprefix("torch."),
            "pass": "forward+backward" if backward else "forward", **result,
        })  # fmt: skip
    return records


def training_config(device: torch.device) -> TrainConfig:
    """~85M parameters on CUDA (12 layers, width 768, 1024 tokens); a toy on CPU."""
    if device.type == "cuda":
        budget = float(os.environ.get("GPU_LAB_TRAIN_SECONDS", "600"))
        model = GPTConfig(block_size=1024, n_layer=12, n_head=12, n_embd=768, attention="sdpa")
        return TrainConfig(
            steps=100_000, batch_size=16, grad_accum=4, lr=6e-4, min_lr=6e-5, warmup=100,
            eval_every=250, eval_batches=8, compile=True, time_budget_s=budget,
            progress=False, model=model,
        )  # fmt: skip
    model = GPTConfig(block_size=128, n_layer=2, n_head=2, n_embd=64, attention="sdpa")
    return TrainConfig(steps=30, batch_size=8, eval_every=30, progress=False, model=model)


def training_run(device: torch.device) -> dict[str, Any]:
    """Tokens/s, MFU (where the GPU's peak is known) and the validation loss reached."""
    config = training_config(device)
    train_tokens, val_tokens = corpus_splits()
    start = time.perf_counter()
    model, history = train(config, train_tokens, val_tokens, device)
    seconds = time.perf_counter() - start
    m = config.model
    matmul_params = model.num_params() - model.pos.weight.numel()  # the tied head multiplies
    flops_per_token = 6 * matmul_params + 12 * m.n_layer * m.n_embd * m.block_size
    tokens_per_s = history["tokens_per_s"][0]
    every = max(1, len(history["loss"]) // 200)
    peak = next((f for key, f in PEAK_BF16_FLOPS.items() if key in device_name(device)), None)
    return {
        "params_millions": round(model.num_params() / 1e6, 2),
        "config": {
            "n_layer": m.n_layer, "n_embd": m.n_embd, "n_head": m.n_head,
            "block_size": m.block_size,
        },
        "steps": len(history["step"]),
        "seconds": round(seconds, 1),
        "tokens_per_s": round(tokens_per_s),
        "mfu": None if peak is None else round(tokens_per_s * flops_per_token / peak, 4),
        "val_loss": round(history["val_loss"][-1], 4),
        "loss_curve": [round(x, 4) for x in history["loss"][::every]],
    }  # fmt: skip


def generation_speed(device: torch.device) -> list[dict[str, Any]]:
    """Greedy generation tokens/s with and without the KV cache."""
    torch.manual_seed(0)
    if device.type == "cuda":
        new_tokens, prompt_len = [256, 512, 1024, 2048], 16
        config = GPTConfig(block_size=2048 + prompt_len, n_layer=12, n_head=12, n_embd=768)
        model = GPT(config).to(device, torch.bfloat16).eval()
    else:
        new_tokens, prompt_len = [32, 64, 128, 256], 16
        config = GPTConfig(block_size=256 + prompt_len, n_layer=2, n_head=4, n_embd=128)
        model = GPT(config).eval()
    prompt = torch.randint(0, config.vocab_size, (1, prompt_len), device=device)
    records = []
    for n in tqdm(new_tokens, desc="generation", leave=False):
        for cached in (True, False):

            def run(n: int = n, cached: bool = cached) -> None:
                generate(model, prompt, n, use_cache=cached)

            seconds = median_seconds(run, device, 1)
            rate = round(n / seconds, 1)
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
