"""Pictures of the early chapters' machinery: skip features voting, embeddings, BPE merges."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
from matplotlib.figure import Figure

from course.diagrams._draw import (
    BLUE,
    GREEN,
    INK,
    MUTED,
    ORANGE,
    PURPLE,
    VERMILLION,
    arrow,
    box,
    canvas,
    grid,
    note,
)


def skip_votes(features: Sequence[str], candidates: Sequence[str], votes: np.ndarray) -> Figure:
    """Each skip feature (left) sends its votes (F, 2) to the candidates (right) as lines.

    A line's width is its share of the feature's vote; the candidates show their totals.
    """
    rows = len(features)
    height = 0.42 * rows + 0.9
    fig, ax = canvas(8.2, height)
    ys = [height - 0.55 - 0.42 * i for i in range(rows)]
    targets = [height / 2 + 0.55, height / 2 - 0.55]
    for feature, y, row in zip(features, ys, votes, strict=True):
        sure = row.max() == 1.0
        box(
            ax,
            (1.35, y),
            (2.2, 0.32),
            feature,
            VERMILLION if sure else BLUE,
            fontsize=9,
            filled=sure,
        )
        for target, share in zip(targets, row, strict=True):
            if share > 0:
                arrow(
                    ax,
                    (2.5, y),
                    (5.05, target),
                    colour=VERMILLION if sure else BLUE,
                    width=0.4 + 3.0 * share,
                    style="-",
                )
    totals = votes.sum(axis=0)
    for name, target, total in zip(candidates, targets, totals, strict=True):
        box(ax, (5.9, target), (1.6, 0.46), name, GREEN)
        note(ax, (6.95, target), f"{total:g} votes", ha="left", color=INK, fontsize=10)
    note(ax, (1.35, height - 0.18), "skip feature (earlier word, ran)", color=INK)
    note(ax, (5.9, height - 0.18), "next word", color=INK)
    return fig


def embedding_pipeline(T: int, N: int, d: int) -> Figure:
    """One-hot words (T, N) @ E (N, d), plus positions, through attention, @ Eᵀ to logits."""
    cell = 0.13
    steps = [
        ("one-hot X", (T, N), MUTED, f"(T, N) = ({T}, {N})"),
        ("E", (N, d), BLUE, f"(N, d) = ({N}, {d})"),
        ("XE + PE", (T, d), BLUE, f"(T, d) = ({T}, {d})"),
        ("blocks", (T, d), PURPLE, "(T, d)"),
        ("Eᵀ (tied)", (d, N), BLUE, f"(d, N) = ({d}, {N})"),
        ("logits", (T, N), ORANGE, "(T, N): scores of\nevery next word"),
    ]
    tallest = max(shape[0] for _, shape, _, _ in steps) * cell
    width = sum(max(shape[1] * cell, 0.7) + 0.55 for _, shape, _, _ in steps) + 1.5
    fig, ax = canvas(width, tallest + 1.2)
    y = tallest + 0.75
    left = 0.25
    centres = []
    for name, shape, colour, label in steps:
        hot = {(r, r % shape[1]) for r in range(shape[0])} if name.startswith("one-hot") else None
        every = {(r, c) for r in range(shape[0]) for c in range(shape[1])}
        grid(ax, (left, y), shape, cell, colour, shaded=hot if hot is not None else every)
        width = shape[1] * cell
        ax.text(
            left + width / 2,
            y + 0.1,
            name,
            ha="center",
            va="bottom",
            fontsize=10,
            color=INK,
            fontweight="bold",
        )
        note(ax, (left + width / 2, y - shape[0] * cell - 0.25), label, fontsize=8.5)
        centres.append((left, left + width))
        left += max(width, 0.7) + 0.55
    for (_, right), (next_left, _) in pairwise(centres):
        arrow(ax, (right + 0.08, y - 0.3), (next_left - 0.08, y - 0.3))
    box(ax, (left + 0.55, y - 0.3), (1.0, 0.4), "sample", GREEN, fontsize=9)
    arrow(ax, (centres[-1][1] + 0.08, y - 0.3), (left + 0.03, y - 0.3))
    note(ax, (left + 0.55, y - 0.75), "temperature,\ntop-k, top-p", fontsize=8.5)
    return fig


def bpe_merges(text: str, merges: Sequence[tuple[str, str]]) -> Figure:
    """``text`` as characters, then after each merge in ``merges``: one row per step."""
    pieces = list(text)
    rows = [(pieces, None)]
    for left, right in merges:
        merged, i = [], 0
        while i < len(pieces):
            if i + 1 < len(pieces) and (pieces[i], pieces[i + 1]) == (left, right):
                merged.append(left + right)
                i += 2
            else:
                merged.append(pieces[i])
                i += 1
        pieces = merged
        rows.append((pieces, left + right))
    height = 0.55 * len(rows) + 0.3
    fig, ax = canvas(8.6, height)
    colours = [BLUE, ORANGE, GREEN, PURPLE, VERMILLION]
    for step, (tokens, new) in enumerate(rows):
        y = height - 0.4 - 0.55 * step
        label = "bytes" if new is None else f"merge {step}: “{new}”"
        note(ax, (0.1, y), label, ha="left", color=INK, fontsize=9.5)
        x = 2.0
        for token in tokens:
            width = 0.16 * len(token) + 0.12
            colour = colours[(step - 1) % len(colours)] if token == new else MUTED
            box(
                ax,
                (x + width / 2, y),
                (width, 0.34),
                token.replace(" ", "␣"),
                colour,
                filled=token == new,
                fontsize=9,
            )
            x += width + 0.05
        note(ax, (8.5, y), f"{len(tokens)} tokens", ha="right", fontsize=9)
    return fig
