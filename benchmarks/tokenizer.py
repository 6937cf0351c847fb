"""Training time of the course's BPE tokenizer, incremental against full re-counting.

The incremental trainer (course.tokenizer.train_bpe) learns merges on 1 MB of the
corpus. The naive trainer re-counts every pair before each merge, so it runs on a
smaller slice; both run on that slice for a side-by-side ratio. Results go to
benchmarks/results/tokenizer.json.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import record
from course import data
from course.tokenizer import Pair, train_bpe, train_bpe_naive

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tokenizer.json"
FULL_CHARS = 1_000_000
SLICE_CHARS = 100_000
VOCAB_SIZE = 2048
SLICE_VOCAB_SIZE = 1024


def timed(train: Callable[..., list[Pair]], text: str, vocab_size: int) -> tuple[float, int]:
    """Seconds one training run takes, and how many merges it learned."""
    start = time.perf_counter()
    merges = train(text, vocab_size)
    return time.perf_counter() - start, len(merges)


def main() -> None:
    corpus = data.python_source()
    full, part = corpus[:FULL_CHARS], corpus[:SLICE_CHARS]
    print(f"training BPE on {len(full):,} characters, vocab {VOCAB_SIZE}...", flush=True)
    full_s, full_merges = timed(train_bpe, full, VOCAB_SIZE)
    print(f"incremental vs naive on {len(part):,} characters, vocab {SLICE_VOCAB_SIZE}...")
    fast_s, slice_merges = timed(train_bpe, part, SLICE_VOCAB_SIZE)
    naive_s, _ = timed(train_bpe_naive, part, SLICE_VOCAB_SIZE)
    figures = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "corpus_chars": len(full),
        "corpus_bytes": len(full.encode("utf-8")),
        "vocab_size": VOCAB_SIZE,
        "merges": full_merges,
        "train_incremental_s": round(full_s, 3),
        "slice_chars": len(part),
        "slice_vocab_size": SLICE_VOCAB_SIZE,
        "slice_merges": slice_merges,
        "slice_train_incremental_s": round(fast_s, 3),
        "slice_train_naive_s": round(naive_s, 3),
        "slice_naive_over_incremental": round(naive_s / fast_s, 1),
    }
    record(RESULTS, figures)


if __name__ == "__main__":
    main()
