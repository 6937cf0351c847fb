"""Greedy generation speed of the course GPT with and without a KV cache.

Both ways generate the same tokens (checked) from a one-token prompt, for several
lengths, in the same run and on one CPU thread. Results go to
benchmarks/results/inference.json: tokens per second each way and their ratio.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks import record
from course.nn.gpt import GPT, GPTConfig
from course.nn.kv_cache import generate, generate_with_cache

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "inference.json"
CONFIG = GPTConfig(vocab_size=256, block_size=1024, n_layer=4, n_head=4, d_model=128)
LENGTHS = (64, 128, 256, 512, 1000)
REPEATS = 3


def tokens_per_second(run: Callable[[], torch.Tensor], n_tokens: int) -> float:
    """n_tokens over the median wall time of REPEATS calls of run()."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return n_tokens / statistics.median(times)


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = GPT(CONFIG).eval()
    prompt = torch.zeros(1, 1, dtype=torch.long)
    rows = []
    for n in LENGTHS:
        same = torch.equal(generate(model, prompt, n), generate_with_cache(model, prompt, n))
        if not same:
            raise AssertionError(f"cached and uncached tokens differ at length {n}")
        plain = tokens_per_second(lambda n=n: generate(model, prompt, n), n)
        cached = tokens_per_second(lambda n=n: generate_with_cache(model, prompt, n), n)
        rows.append(
            {
                "new_tokens": n,
                "uncached_tokens_per_s": round(plain, 1),
                "cached_tokens_per_s": round(cached, 1),
                "cached_over_uncached": round(cached / plain, 2),
            }
        )
        print(f"{n:5} tokens: uncached {plain:8.1f} tok/s, cached {cached:8.1f} tok/s", flush=True)
    figures = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": 1,
        "model": {k: v for k, v in CONFIG.__dict__.items() if v is not None},
        "repeats": REPEATS,
        "greedy_tokens_identical": True,
        "lengths": rows,
    }
    record(RESULTS, figures, show=False)


if __name__ == "__main__":
    main()
