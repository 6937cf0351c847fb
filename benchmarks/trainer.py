"""The course trainer against a bare PyTorch loop, and sdpa against naive attention.

In one run, on one CPU thread, rounds interleaved (bare, trainer, bare, trainer, ...,
the order alternating per round) so a busy machine slows both alike:

* `course.train.train` against a bare loop (forward, loss, backward, AdamW step, nothing
  else) over the same initial weights and the same batches (checked: both see the same
  first loss), at nanoGPT's CPU size (4 layers, 4 heads, d_model 128, block 64, batch
  12) and at chapter 9's size. Each side is timed from outside, whole calls of STEPS
  steps; the trainer evaluates nothing (eval_every=None) but clips gradients and follows
  its schedule, as it always does.
* one training step of the model with attention "sdpa" against "naive", in the bare loop.

The ratios are the result: the median of the per-round ratios, and the ratio of each
side's fastest call (the least disturbed by other processes); absolute times are those
of this CPU only. Results go to
benchmarks/results/trainer.json.
"""

from __future__ import annotations

import copy
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from benchmarks import ROOT, record
from course.nn.gpt import GPT, GPTConfig
from course.train import TrainConfig, char_corpus, get_batch, train

RESULTS = ROOT / "benchmarks" / "results" / "trainer.json"
ROUNDS = 11  # after one untimed round of warm-up
SIZES = {  # name: (model sizes, batch size, steps per timed call)
    "nanogpt_cpu": ({"block_size": 64, "n_layer": 4, "n_head": 4, "d_model": 128}, 12, 12),
    "chapter_9": ({"block_size": 32, "n_layer": 2, "n_head": 4, "d_model": 64}, 64, 20),
}


def bare_loop(model: GPT, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Train on ``batches`` with nothing but the four essentials; the first loss.

    AdamW runs the trainer's implementation (foreach), so the ratio is the trainer's
    own cost: schedule, clipping, bookkeeping."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), foreach=True)
    first = None
    for x, y in batches:
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        first = loss.item() if first is None else first
    return first


def timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def trainer_against_bare_loop(corpus, sizes: dict, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    base = GPT(GPTConfig(vocab_size=len(corpus.alphabet), **sizes)).train()
    config = TrainConfig(steps=steps, batch_size=batch, warmup=1, eval_every=None, seed=0)
    generator = torch.Generator().manual_seed(config.seed)  # the trainer's own seeding
    batches = [get_batch(corpus.train, sizes["block_size"], batch, generator) for _ in range(steps)]
    bare_s, trainer_s, ratios, reported = [], [], [], []
    for round_ in range(-1, ROUNDS):  # round -1 warms up: first calls are slow
        sides = ["bare", "trainer"] if round_ % 2 == 0 else ["trainer", "bare"]
        times = {}
        for side in sides:
            model = copy.deepcopy(base)
            if side == "bare":
                times[side], bare_first = timed(lambda m=model: bare_loop(m, batches))
            else:
                run = lambda m=model: train(m, corpus.train, corpus.validation, config, False)  # noqa: E731
                times[side], history = timed(run)
                reported.append(history.tokens_per_s)
        if history.train_loss[0] != bare_first:
            raise AssertionError("the trainer and the bare loop saw different batches")
        if round_ < 0:
            reported.clear()
            continue
        bare_s.append(times["bare"] / steps)
        trainer_s.append(times["trainer"] / steps)
        ratios.append(times["trainer"] / times["bare"])
    tokens = batch * sizes["block_size"]
    row = {
        "model": sizes,
        "batch_size": batch,
        "steps_per_call": steps,
        "trainer_over_bare_step_time": round(statistics.median(ratios), 4),
        "trainer_over_bare_fastest_call": round(min(trainer_s) / min(bare_s), 4),
        "ratio_per_round": [round(r, 4) for r in ratios],
        "this_cpu_bare_ms_per_step": round(1e3 * statistics.median(bare_s), 2),
        "this_cpu_trainer_ms_per_step": round(1e3 * statistics.median(trainer_s), 2),
        "this_cpu_bare_tokens_per_s": round(tokens / statistics.median(bare_s)),
        "this_cpu_trainer_tokens_per_s": round(tokens / statistics.median(trainer_s)),
        "this_cpu_trainer_self_reported_tokens_per_s": round(statistics.median(reported)),
    }
    print(
        f"trainer/bare step time: median of rounds {row['trainer_over_bare_step_time']:.3f}, "
        f"fastest calls {row['trainer_over_bare_fastest_call']:.3f}",
        flush=True,
    )
    return row


def sdpa_against_naive(corpus, sizes: dict, batch: int, steps: int) -> dict:
    torch.manual_seed(0)
    base = GPT(GPTConfig(vocab_size=len(corpus.alphabet), **sizes)).train()
    generator = torch.Generator().manual_seed(0)
    batches = [get_batch(corpus.train, sizes["block_size"], batch, generator) for _ in range(steps)]
    per_step: dict[str, list[float]] = {"sdpa": [], "naive": []}
    ratios = []
    for round_ in range(-1, ROUNDS):
        sides = ["sdpa", "naive"] if round_ % 2 == 0 else ["naive", "sdpa"]
        times = {}
        for attention in sides:
            model = GPT(GPTConfig(**{**base.config.__dict__, "attention": attention})).train()
            model.load_state_dict(base.state_dict())
            times[attention], _ = timed(lambda m=model: bare_loop(m, batches))
        if round_ < 0:
            continue
        for attention in sides:
            per_step[attention].append(times[attention] / steps)
        ratios.append(times["naive"] / times["sdpa"])
    row = {
        "model": sizes,
        "batch_size": batch,
        "naive_over_sdpa_step_time": round(statistics.median(ratios), 4),
        "naive_over_sdpa_fastest_call": round(min(per_step["naive"]) / min(per_step["sdpa"]), 4),
        "ratio_per_round": [round(r, 4) for r in ratios],
        "this_cpu_sdpa_ms_per_step": round(1e3 * statistics.median(per_step["sdpa"]), 2),
        "this_cpu_naive_ms_per_step": round(1e3 * statistics.median(per_step["naive"]), 2),
    }
    print(f"naive/sdpa step time {row['naive_over_sdpa_step_time']:.3f}", flush=True)
    return row


def main() -> None:
    torch.set_num_threads(1)
    corpus = char_corpus()
    start = time.perf_counter()
    figures = {
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": 1,
        "rounds": ROUNDS,
        "goal": "trainer over bare loop step time <= 1.05",
    }
    for name, (sizes, batch, steps) in SIZES.items():
        print(f"{name}: trainer against a bare loop", flush=True)
        figures[f"trainer_vs_bare_{name}"] = trainer_against_bare_loop(corpus, sizes, batch, steps)
    sizes, batch, steps = SIZES["nanogpt_cpu"]
    print("nanogpt_cpu: sdpa against naive attention", flush=True)
    figures["sdpa_vs_naive_nanogpt_cpu"] = sdpa_against_naive(corpus, sizes, batch, steps)
    figures["benchmark_seconds"] = round(time.perf_counter() - start, 1)
    record(RESULTS, figures, show=False)


if __name__ == "__main__":
    main()
