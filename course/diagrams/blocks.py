"""Transformer blocks as pictures: post-LN against pre-LN, and an encoder-decoder."""

from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from course.diagrams._draw import BLUE, GREEN, INK, MUTED, ORANGE, PURPLE, arrow, box, canvas, note

BOX = (1.9, 0.42)


def _add(ax: Axes, centre: tuple[float, float]) -> None:
    """The ⊕ where a residual path rejoins the main one."""
    ax.add_patch(Circle(centre, 0.13, facecolor="white", edgecolor=INK, linewidth=1.3))
    ax.text(*centre, "+", ha="center", va="center", fontsize=12, color=INK)


def _column(ax: Axes, x: float, layers: list[tuple[str, str]], *, prenorm: bool) -> None:
    """One block: input at the bottom, output at the top, residual paths on the left."""
    y = 0.55
    note(ax, (x, y - 0.3), "x  (B, T, C)", color=INK, fontsize=10)
    for name, colour in layers:
        start = y
        parts = [("LayerNorm", MUTED), (name, colour)] if prenorm else [(name, colour)]
        for part, part_colour in parts:
            arrow(ax, (x, y), (x, y + 0.38))
            y += 0.38 + BOX[1] / 2
            box(ax, (x, y), BOX, part, part_colour, filled=part != "LayerNorm")
            y += BOX[1] / 2
        arrow(ax, (x, y), (x, y + 0.3))
        y += 0.3 + 0.13
        _add(ax, (x, y))
        side = x - BOX[0] / 2 - 0.35
        ax.plot([x, side, side], [start + 0.15, start + 0.15, y], color=INK, linewidth=1.3)
        arrow(ax, (side, y), (x - 0.13, y))
        y += 0.13
        if not prenorm:
            arrow(ax, (x, y), (x, y + 0.3))
            y += 0.3 + BOX[1] / 2
            box(ax, (x, y), BOX, "LayerNorm", MUTED, filled=False)
            y += BOX[1] / 2
    arrow(ax, (x, y), (x, y + 0.35))
    note(ax, (x, y + 0.5), "to the next block  (B, T, C)", color=INK, fontsize=10)


def transformer_blocks() -> Figure:
    """A post-LN block (2017) beside a pre-LN block (GPT-2 on), same sub-layers."""
    fig, ax = canvas(8.0, 6.7)
    layers = [("Multi-head attention", BLUE), ("Feed-forward", ORANGE)]
    _column(ax, 2.2, layers, prenorm=False)
    _column(ax, 6.0, layers, prenorm=True)
    ax.text(
        2.2,
        6.45,
        "Post-LN (Vaswani et al.)",
        ha="center",
        fontsize=12,
        color=INK,
        fontweight="bold",
    )
    ax.text(
        6.0, 6.45, "Pre-LN (GPT-2, Llama)", ha="center", fontsize=12, color=INK, fontweight="bold"
    )
    note(
        ax,
        (2.2, 6.1),
        "normalise after each addition:\nthe residual path passes through LN",
        fontsize=8.5,
    )
    note(
        ax,
        (6.0, 6.1),
        "normalise each sub-layer's input:\nthe residual path stays clean",
        fontsize=8.5,
    )
    return fig


def encoder_decoder() -> Figure:
    """Encoder stack over the source, decoder stack with cross-attention to its output."""
    fig, ax = canvas(10.0, 5.0)
    enc, dec = 2.3, 6.5
    wide = (2.3, 0.42)
    ax.add_patch(
        Rectangle((enc - 1.45, 1.2), 2.9, 2.0, facecolor="white", edgecolor=MUTED, linestyle="--")
    )
    ax.add_patch(
        Rectangle((dec - 1.45, 1.2), 2.9, 2.75, facecolor="white", edgecolor=MUTED, linestyle="--")
    )
    note(ax, (enc - 1.35, 3.1), "× L", ha="left", va="top", color=INK, fontsize=10)
    note(ax, (dec + 1.35, 3.85), "× L", ha="right", va="top", color=INK, fontsize=10)
    box(ax, (enc, 0.8), wide, "source embeddings", MUTED, filled=False)
    note(ax, (enc, 0.35), "src (B, S)", color=INK, fontsize=10)
    box(ax, (enc, 1.75), wide, "self-attention (no mask)", BLUE)
    box(ax, (enc, 2.6), wide, "feed-forward", ORANGE)
    arrow(ax, (enc, 1.01), (enc, 1.54))
    arrow(ax, (enc, 1.96), (enc, 2.39))
    arrow(ax, (enc, 2.81), (enc, 3.55))
    box(ax, (enc, 3.8), wide, "memory (B, S, C)", GREEN)
    box(ax, (dec, 0.8), wide, "target embeddings", MUTED, filled=False)
    note(ax, (dec, 0.35), "tgt so far (B, T)", color=INK, fontsize=10)
    box(ax, (dec, 1.7), wide, "masked self-attention", BLUE)
    box(ax, (dec, 2.55), wide, "cross-attention", PURPLE)
    box(ax, (dec, 3.4), wide, "feed-forward", ORANGE)
    arrow(ax, (dec, 1.01), (dec, 1.49))
    arrow(ax, (dec, 1.91), (dec, 2.34))
    arrow(ax, (dec, 2.76), (dec, 3.19))
    arrow(ax, (dec, 3.61), (dec, 4.3))
    box(ax, (dec, 4.55), wide, "next-token logits (B, T, V)", INK)
    arrow(ax, (enc + 1.15, 3.8), (dec - 1.15, 2.62), colour=GREEN, width=2.0, bend=-0.2)
    note(ax, (4.45, 4.15), "keys and values\nfrom the memory", color=GREEN, fontsize=9)
    note(ax, (dec + 1.6, 2.55), "queries from\nthe decoder", ha="left", fontsize=9)
    note(ax, (dec + 1.6, 1.7), "causal: t sees ≤ t", ha="left", fontsize=9)
    note(ax, (enc, 4.3), "residual paths and norms\nas in a block, not drawn", fontsize=8.5)
    return fig
