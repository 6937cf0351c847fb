"""The explanatory diagrams draw, on white, with every label inside the picture."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from course import diagrams

matplotlib.use("Agg")

DRAWINGS: dict[str, Callable[[], Figure]] = {
    "skip_votes": lambda: diagrams.skip_votes(
        ["check, ran", "battery, ran", "program, ran"],
        ["down", "please"],
        np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]),
    ),
    "embedding_pipeline": lambda: diagrams.embedding_pipeline(T=12, N=13, d=4),
    "bpe_merges": lambda: diagrams.bpe_merges("aaabdaaabac", [("a", "a"), ("a", "b")]),
    "qkv_scores": lambda: diagrams.qkv_scores(T=6, C=8, d_k=4),
    "qkv_scores_one_hot": lambda: diagrams.qkv_scores(T=5, C=7, d_k=7, width="N", scaled=False),
    "heads_split_merge": lambda: diagrams.heads_split_merge(T=4, C=8, H=2),
    "transformer_blocks": diagrams.transformer_blocks,
    "encoder_decoder": diagrams.encoder_decoder,
    "training_loop": diagrams.training_loop,
    "kv_cache_growth": diagrams.kv_cache_growth,
    "flash_tiles": diagrams.flash_tiles,
    "speculative_decoding": diagrams.speculative_decoding,
    "attention_masks": diagrams.attention_masks,
    "mlm_corruption": lambda: diagrams.mlm_corruption(
        "return x", {1: "mask", 4: "random", 7: "keep"}, {4: "q"}
    ),
    "expert_routing": lambda: diagrams.expert_routing([0, 2, 0, 1, 0, 0, 3, 2], 4, 2),
    "beam_tree": lambda: diagrams.beam_tree(
        {("a",): 0.6, ("a", "b"): 0.3, ("a", "c"): 0.3, ("c",): 0.4, ("c", "c"): 0.36},
        kept={("a",), ("c",), ("a", "b"), ("c", "c")},
        best=("c", "c"),
    ),
}


def _corners(text: matplotlib.text.Text, renderer: object) -> tuple:
    box = text.get_window_extent(renderer)
    return box.p0, box.p1


@pytest.mark.parametrize("name", DRAWINGS)
def test_diagram_draws_on_white_within_its_canvas(name: str) -> None:
    fig = DRAWINGS[name]()
    try:
        assert matplotlib.colors.to_hex(fig.get_facecolor()) == "#ffffff"  # readable on dark pages
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        canvas = fig.bbox.padded(2)
        outside = [
            text.get_text()
            for text in fig.axes[0].texts
            if text.get_text().strip()
            and not all(canvas.contains(*corner) for corner in _corners(text, renderer))
        ]
        assert not outside, f"{name}: labels cut off at the edge: {outside}"
    finally:
        matplotlib.pyplot.close(fig)


def test_bpe_merges_shortens_the_text_by_each_merge() -> None:
    fig = diagrams.bpe_merges("aaabdaaabac", [("a", "a"), ("a", "b"), ("aa", "ab")])
    try:
        counts = [t.get_text() for t in fig.axes[0].texts if t.get_text().endswith("tokens")]
        assert counts == ["11 tokens", "9 tokens", "7 tokens", "5 tokens"]
    finally:
        matplotlib.pyplot.close(fig)
