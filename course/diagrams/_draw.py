"""The few shapes every diagram is made of: a canvas, labelled boxes, arrows and grids."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from course.plots import PALETTE

INK = "#222222"  # text and arrows: dark on the diagrams' white background
MUTED = "#666666"  # notes and shape labels
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY = PALETTE[:6]


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A white figure of ``width`` x ``height`` inches whose data units are inches."""
    fig = plt.figure(figsize=(width, height), facecolor="white", layout="none")
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def box(
    ax: Axes,
    centre: tuple[float, float],
    size: tuple[float, float],
    text: str,
    colour: str = BLUE,
    *,
    filled: bool = True,
    fontsize: float = 10,
) -> None:
    """A rounded box centred at ``centre``; white text on ``colour``, or ink on an outline."""
    (x, y), (w, h) = centre, size
    ax.add_patch(FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.08",
        facecolor=colour if filled else "white", edgecolor=colour, linewidth=1.5,
    ))  # fmt: skip
    ax.text(
        x,
        y,
        text,
        ha="center",
        va="center",
        fontsize=fontsize,
        color="white" if filled else INK,
        fontweight="bold" if filled else "normal",
    )


def arrow(
    ax: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    colour: str = INK,
    width: float = 1.3,
    bend: float = 0.0,
    style: str = "-|>",
) -> None:
    """An arrow from ``start`` to ``end``; ``bend`` curves it (0 is straight)."""
    ax.add_patch(FancyArrowPatch(
        start, end, arrowstyle=style, mutation_scale=12, color=colour, linewidth=width,
        connectionstyle=f"arc3,rad={bend}", shrinkA=0, shrinkB=0,
    ))  # fmt: skip


def note(ax: Axes, xy: tuple[float, float], text: str, **options: object) -> None:
    """Small grey text, centred at ``xy`` unless ``ha``/``va`` say otherwise."""
    settings: dict[str, object] = {"ha": "center", "va": "center", "fontsize": 9, "color": MUTED}
    ax.text(*xy, text, **(settings | options))


def grid(
    ax: Axes,
    corner: tuple[float, float],
    shape: tuple[int, int],
    cell: float,
    colour: str,
    *,
    shaded: set[tuple[int, int]] | None = None,
    hatched: set[tuple[int, int]] | None = None,
) -> None:
    """A ``shape`` = (rows, columns) grid of square cells, top-left corner at ``corner``.

    Cells in ``shaded`` are filled with ``colour``, cells in ``hatched`` drawn pale and
    crossed (masked), the rest left white.
    """
    rows, columns = shape
    left, top = corner
    for r in range(rows):
        for c in range(columns):
            crossed = hatched is not None and (r, c) in hatched
            filled = shaded is not None and (r, c) in shaded
            ax.add_patch(Rectangle(
                (left + c * cell, top - (r + 1) * cell), cell, cell,
                facecolor=colour if filled else ("#EEEEEE" if crossed else "white"),
                edgecolor=colour, linewidth=0.8, hatch="xx" if crossed else None,
                alpha=1.0,
            ))  # fmt: skip
