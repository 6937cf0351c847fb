"""Fast inference as pictures: the KV cache, FlashAttention's tiles, speculative decoding."""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

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

CELL = 0.24


def kv_cache_growth(steps: int = 4, prompt: int = 3) -> Figure:
    """At each decoding step one new query reads the cache, and one K and V row is appended."""
    fig, ax = canvas(10.0, 3.4)
    for step in range(steps):
        left = 0.4 + step * 2.45
        length = prompt + step
        top = 2.6
        cached = {(r, 0) for r in range(length)}
        grid(ax, (left, top), (length + 1, 1), CELL, ORANGE, shaded=cached | {(length, 0)})
        grid(ax, (left + 0.38, top), (length + 1, 1), CELL, GREEN, shaded=cached | {(length, 0)})
        for column in (0.0, 0.38):  # outline the new row
            ax.add_patch(
                Rectangle(
                    (left + column, top - (length + 1) * CELL),
                    CELL,
                    CELL,
                    facecolor="none",
                    edgecolor=VERMILLION,
                    linewidth=2.2,
                )
            )
        note(ax, (left + CELL / 2, top + 0.15), "K", color=INK, fontsize=10)
        note(ax, (left + 0.38 + CELL / 2, top + 0.15), "V", color=INK, fontsize=10)
        qx = left + 1.1
        grid(ax, (qx, top - length * CELL), (1, 1), CELL, BLUE, shaded={(0, 0)})
        note(ax, (qx + CELL / 2, top - length * CELL + 0.15), "q", color=INK, fontsize=10)
        arrow(
            ax,
            (qx - 0.05, top - length * CELL - CELL / 2),
            (left + 0.38 + CELL + 0.05, top - (length / 2) * CELL),
            colour=BLUE,
            bend=0.2,
        )
        ax.text(
            left + 0.7,
            3.2,
            f"step {step + 1}",
            ha="center",
            fontsize=11,
            color=INK,
            fontweight="bold",
        )
        note(ax, (left + 0.7, top - (length + 1) * CELL - 0.25), f"cache: {length + 1} rows")
    note(
        ax,
        (5.0, 0.18),
        "outlined: the row this step computes; the rest is read back, "
        "not recomputed. One query row per step: (B, H, 1, D) against (B, H, S, D)",
        fontsize=9,
    )
    return fig


def flash_tiles(T: int = 8, block: int = 2) -> Figure:
    """The (T, T) score matrix in tiles: one query block walks the key tiles left to right."""
    fig, ax = canvas(9.6, 3.6)
    tiles = T // block
    size = 0.34
    top, left = 3.1, 0.4
    row = tiles - 2  # the query block shown walking
    for r in range(tiles):
        for c in range(tiles):
            above = c > r
            current = r == row and c <= r
            colour = "#EEEEEE" if above else (PURPLE if current else "#D6E4F0")
            ax.add_patch(
                Rectangle(
                    (left + c * block * size, top - (r + 1) * block * size),
                    block * size,
                    block * size,
                    facecolor=colour,
                    edgecolor="white" if not above else MUTED,
                    linewidth=1.5,
                    hatch="xx" if above else None,
                )
            )
    for c in range(row + 1):
        x = left + (c + 0.5) * block * size
        ax.text(
            x,
            top - (row + 0.5) * block * size,
            str(c + 1),
            ha="center",
            va="center",
            color="white",
            fontsize=11,
            fontweight="bold",
        )
    note(
        ax,
        (left + tiles * block * size / 2, top + 0.15),
        "scores, tile by tile",
        color=INK,
        fontsize=10,
    )
    note(
        ax,
        (left + tiles * block * size / 2, 0.25),
        "crossed tiles lie above the diagonal:\nskipped entirely under the causal mask",
        fontsize=8.5,
    )
    x0 = 3.6
    lines = [
        "for each key tile j = 1, 2, …:",
        "    s = q_block @ k_jᵀ / √D               (block, block)",
        "    m' = max(m, rowmax(s))",
        "    l  = l·e^(m − m') + rowsum(e^(s − m'))",
        "    o  = o·e^(m − m') + e^(s − m') @ v_j",
        "    m  = m'",
        "output = o / l   (never stores the T × T matrix)",
    ]
    for i, line in enumerate(lines):
        ax.text(
            x0,
            2.85 - i * 0.36,
            line,
            fontsize=9.5,
            family="DejaVu Sans Mono",
            color=INK if i not in (2, 3, 4) else BLUE,
            va="center",
        )
    return fig


def speculative_decoding(
    draft: tuple[str, ...] = ("the", "cat", "sat", "in"), accepted: int = 3, correction: str = "on"
) -> Figure:
    """A draft model proposes tokens; the target checks them all in one pass."""
    fig, ax = canvas(9.4, 3.3)
    note(ax, (0.2, 2.75), "draft model,\none token at a time", ha="left", color=INK, fontsize=9.5)
    note(ax, (0.2, 1.55), "target model,\none pass over all", ha="left", color=INK, fontsize=9.5)
    note(ax, (0.2, 0.55), "kept", ha="left", color=INK, fontsize=9.5)
    x = 2.3
    for index, token in enumerate(draft):
        box(ax, (x, 2.75), (1.1, 0.42), token, ORANGE, fontsize=10)
        ok = index < accepted
        box(
            ax, (x, 1.55), (1.1, 0.42), "✓" if ok else "✗", GREEN if ok else VERMILLION, fontsize=12
        )
        arrow(ax, (x, 2.5), (x, 1.8), colour=MUTED)
        if ok:
            box(ax, (x, 0.55), (1.1, 0.42), token, GREEN, filled=False, fontsize=10)
            arrow(ax, (x, 1.3), (x, 0.8), colour=GREEN)
        elif index == accepted:
            box(ax, (x, 0.55), (1.1, 0.42), correction, VERMILLION, fontsize=10)
            arrow(ax, (x, 1.3), (x, 0.8), colour=VERMILLION)
            note(
                ax,
                (x + 0.7, 1.05),
                "target's own token\nreplaces the first rejected",
                ha="left",
                fontsize=8.5,
            )
        x += 1.4
    note(
        ax,
        (4.7, 0.1),
        f"{accepted + 1} tokens from one target pass instead of one; "
        "the output is what the target alone would have chosen",
        fontsize=9,
    )
    return fig
