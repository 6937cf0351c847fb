"""A GPT-2-style decoder against a modern (LLaMA-style) one, same size, same clock.

Both models have the same depth, width and heads, and (nearly) the same parameter
count: the modern one's SwiGLU hidden width d_ff is chosen to match. They train one
after the other on the course's character corpus, each for the same wall-clock budget
(BUDGET_S seconds of training, evaluations not counted), from seed 0 with the same
batches, on one CPU thread, with the same optimiser and schedule (the schedule follows
the clock: see course.train.train).

* GPT-2 style: learned positions, LayerNorm, GELU (d_ff = 4 * d_model), biases, the
  output layer tied to the token embedding.
* modern: RoPE, RMSNorm, SwiGLU, grouped-query attention (n_kv_head = n_head / 2), no
  biases, an untied output layer (as in LLaMA).

Recorded: the validation loss of each (nats per character, on the same fixed windows),
the character bigram's beside them, parameter counts, steps reached, tokens per second
and the machine, in benchmarks/results/modern_decoder.json. A busy machine slows both
runs, perhaps unequally: steps reached says how much training each one got.

python -m benchmarks.modern_decoder [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from benchmarks import ROOT, record
from course import markov
from course.nn.gpt import GPT, GPTConfig
from course.train import TrainConfig, char_corpus, estimate_loss, train

RESULTS = ROOT / "benchmarks" / "results" / "modern_decoder.json"
BUDGET_S = 180.0
SIZES = {"block_size": 64, "n_layer": 4, "n_head": 4, "d_model": 128}
GPT2_STYLE = {"positions": "learned", "norm": "layer", "activation": "gelu"}
MODERN = {
    "positions": "rope",
    "norm": "rms",
    "activation": "swiglu",
    "n_kv_head": SIZES["n_head"] // 2,
    "bias": False,
    "tie_head": False,
}
SCHEDULE_STEPS = 10_000  # more than either model reaches: the clock ends the schedule
FINAL_EVAL = {"batch_size": 32, "n_batches": 32, "seed": 1}


def parameters(config: GPTConfig) -> int:
    return GPT(config).num_params()


def matched_d_ff(config: GPTConfig, target: int) -> int:
    """The hidden width that brings ``config``'s parameter count closest to ``target``.

    The count grows linearly with d_ff, so two counts give the slope."""
    base = parameters(replace(config, d_ff=8))
    slope = parameters(replace(config, d_ff=9)) - base
    return max(1, 8 + round((target - base) / slope))


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    names = [
        line.split(":", 1)[1].strip()
        for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
        if line.startswith("model name")
    ]
    name = names[0] if names else platform.processor() or platform.machine()
    return f"{name}, {os.cpu_count()} cores"


def train_for_budget(config: GPTConfig, corpus, seconds: float) -> dict:
    torch.manual_seed(0)
    model = GPT(config)
    settings = TrainConfig(
        steps=SCHEDULE_STEPS, batch_size=16, max_lr=3e-3, min_lr=3e-4,
        warmup=SCHEDULE_STEPS // 50, eval_every=100, eval_batches=4, seed=0,
        time_budget_s=seconds,
    )  # fmt: skip
    history = train(model, corpus.train, corpus.validation, settings, progress=False)
    validation = estimate_loss(model, corpus.validation, config.block_size, **FINAL_EVAL)
    row = {
        "config": {k: v for k, v in asdict(config).items() if k != "vocab_size"},
        "ffn_hidden": config.ffn_hidden,
        "parameters": model.num_params(),
        "steps": len(history.lr),
        "train_seconds": round(history.train_seconds, 1),
        "tokens_per_s": round(history.tokens_per_s),
        "validation_nats_per_char": round(validation, 4),
        "curve": {"step": history.eval_step, "validation": [round(v, 4) for v in history.eval_val]},
    }
    print(
        f"  {row['parameters']:,} parameters, {row['steps']} steps, "
        f"validation {validation:.4f} nats/char",
        flush=True,
    )
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=BUDGET_S, help="budget per model")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    corpus = char_corpus()
    vocab = len(corpus.alphabet)
    gpt2 = GPTConfig(vocab_size=vocab, **SIZES, **GPT2_STYLE)
    modern = GPTConfig(vocab_size=vocab, **SIZES, **MODERN)
    modern = replace(modern, d_ff=matched_d_ff(modern, parameters(gpt2)))
    print(
        f"parameters: GPT-2 style {parameters(gpt2):,} (d_ff {gpt2.ffn_hidden}), "
        f"modern {parameters(modern):,} (d_ff {modern.ffn_hidden})",
        flush=True,
    )
    start = time.perf_counter()
    figures: dict[str, object] = {
        "machine": machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": 1,
        "budget_s_per_model": args.seconds,
        "final_eval": FINAL_EVAL,
        "bigram_validation_nats_per_char": round(markov.char_bigram_baseline().validation_nll, 4),
    }
    for name, config in (("gpt2_style", gpt2), ("modern", modern)):
        print(f"{name}: training for {args.seconds:g} s", flush=True)
        figures[name] = train_for_budget(config, corpus, args.seconds)
    figures["modern_minus_gpt2_nats_per_char"] = round(
        figures["modern"]["validation_nats_per_char"]
        - figures["gpt2_style"]["validation_nats_per_char"],
        4,
    )
    figures["benchmark_seconds"] = round(time.perf_counter() - start, 1)
    record(RESULTS, figures, show=False)


if __name__ == "__main__":
    main()
