"""The training loop of chapter 9 as a cycle of steps, with what flows between them."""

from __future__ import annotations

import math

from matplotlib.figure import Figure

from course.diagrams._draw import (
    BLUE,
    GREEN,
    INK,
    ORANGE,
    PURPLE,
    VERMILLION,
    arrow,
    box,
    canvas,
    note,
)

STEPS = [
    ("sample a batch", "x, y: (B, T) token ids,\ny = x shifted by one", BLUE),
    ("forward", "logits = model(x)\n(B, T, V)", BLUE),
    ("loss", "cross-entropy of y\nmean over B·T positions", VERMILLION),
    ("backward", "loss.backward():\na gradient per weight", PURPLE),
    ("clip", "scale all gradients\nif their norm > 1", PURPLE),
    ("AdamW step", "lr from warm-up +\ncosine schedule", GREEN),
]


def training_loop() -> Figure:
    """Six steps around a circle; every few hundred steps, an evaluation on held-out text."""
    fig, ax = canvas(8.6, 5.6)
    centre, radius = (4.3, 2.95), 1.95
    points = []
    for index in range(len(STEPS)):
        angle = math.pi / 2 - 2 * math.pi * index / len(STEPS)
        points.append(
            (centre[0] + 1.55 * radius * math.cos(angle), centre[1] + radius * math.sin(angle))
        )
    for index, ((name, detail, colour), (x, y)) in enumerate(zip(STEPS, points, strict=True)):
        box(ax, (x, y), (1.75, 0.46), name, colour)
        on_the_axis = abs(y - centre[1]) > radius * 0.9  # top and bottom: note above the box
        note(ax, (x, y + 0.52 if on_the_axis else y - 0.52), detail, fontsize=8.5)
        nx, ny = points[(index + 1) % len(STEPS)]
        dx, dy = nx - x, ny - y
        length = math.hypot(dx, dy)
        shrink = 0.62
        arrow(
            ax,
            (x + dx / length * shrink * 1.4, y + dy / length * shrink),
            (nx - dx / length * shrink * 1.4, ny - dy / length * shrink),
            bend=-0.15,
        )
    ax.text(*centre, "repeat\nfor every step", ha="center", va="center", fontsize=11, color=INK)
    note(
        ax,
        (centre[0], 0.25),
        "every eval_every steps: estimate the loss on fixed training "
        "and validation batches (no gradients)",
        fontsize=9,
        color=ORANGE,
    )
    return fig
