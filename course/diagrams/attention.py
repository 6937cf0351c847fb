"""Attention as pictures: queries, keys and values with their shapes; heads split and merged."""

from __future__ import annotations

from matplotlib.figure import Figure

from course.diagrams._draw import (
    BLUE,
    GREEN,
    INK,
    ORANGE,
    PURPLE,
    VERMILLION,
    arrow,
    canvas,
    grid,
    note,
)

CELL = 0.2  # inches per matrix entry


def _matrix(
    ax,
    left: float,
    top: float,
    shape: tuple[int, int],
    colour: str,
    name: str,
    shape_label: str,
    **cells: object,
) -> tuple[float, float, float, float]:
    """Draw a named grid; return its left, right, top and bottom edges."""
    grid(ax, (left, top), shape, CELL, colour, **cells)
    right, bottom = left + shape[1] * CELL, top - shape[0] * CELL
    ax.text(
        (left + right) / 2,
        top + 0.14,
        name,
        ha="center",
        va="bottom",
        fontsize=11,
        color=INK,
        fontweight="bold",
    )
    note(ax, ((left + right) / 2, bottom - 0.16), shape_label)
    return left, right, top, bottom


def qkv_scores(
    T: int = 5, C: int = 5, d_k: int = 3, width: str = "C", *, scaled: bool = True
) -> Figure:
    """X (T, C) projected to Q, K, V; scores Q K^T (T, T) masked; weights times V.

    ``width`` names the inputs' width in the shape labels (chapter 4's one-hot rows: N);
    ``scaled`` says whether the scores are divided by the square root of d_k.
    """
    size = max(T, C, d_k)
    full = {(r, c) for r in range(size) for c in range(size)}
    band = max(C, T) * CELL + 0.75  # vertical room per projection
    w_left = 0.3 + C * CELL + 0.9
    q_left = w_left + d_k * CELL + 0.7
    s_left = q_left + d_k * CELL + 0.9
    fig_width = s_left + 2 * T * CELL + d_k * CELL + 2.4
    fig, ax = canvas(fig_width, 3 * band + 0.5)
    mid = 1.5 * band + 0.25
    x = _matrix(
        ax, 0.3, mid + T * CELL / 2, (T, C), INK, "X", f"(T, {width}) = ({T}, {C})", shaded=set()
    )
    colours = {"Q": BLUE, "K": ORANGE, "V": GREEN}
    edges = {}
    for index, name in enumerate(("Q", "K", "V")):
        centre = mid + band * (1 - index)
        w = _matrix(
            ax,
            w_left,
            centre + C * CELL / 2,
            (C, d_k),
            colours[name],
            f"W_{name}",
            f"({width}, d_k) = ({C}, {d_k})",
            shaded=full,
        )
        arrow(ax, (x[1] + 0.08, (x[2] + x[3]) / 2), (w[0] - 0.08, centre), colour=colours[name])
        edges[name] = _matrix(
            ax,
            q_left,
            centre + T * CELL / 2,
            (T, d_k),
            colours[name],
            name,
            f"(T, d_k) = ({T}, {d_k})",
            shaded=full,
        )
        arrow(ax, (w[1] + 0.08, centre), (edges[name][0] - 0.08, centre), colour=colours[name])
    future = {(r, c) for r in range(T) for c in range(T) if c > r}
    past = {(r, c) for r in range(T) for c in range(T) if c <= r}
    s_top = mid + band / 2 + T * CELL / 2
    s = _matrix(
        ax,
        s_left,
        s_top,
        (T, T),
        PURPLE,
        "Q Kᵀ / √d_k" if scaled else "Q Kᵀ",
        f"(T, T) = ({T}, {T})",
        shaded=past,
        hatched=future,
    )
    for name in ("Q", "K"):
        e = edges[name]
        arrow(
            ax,
            (e[1] + 0.08, (e[2] + e[3]) / 2),
            (s[0] - 0.08, (s[2] + s[3]) / 2),
            colour=colours[name],
            bend=0.15 if name == "Q" else -0.15,
        )
    note(
        ax,
        ((s[0] + s[1]) / 2, s[3] - 0.5),
        "row t: query t against every key s\ncrossed: s > t, set to −∞ (causal mask)",
        fontsize=9,
    )
    arrow(ax, (s[1] + 0.1, (s[2] + s[3]) / 2), (s[1] + 0.75, (s[2] + s[3]) / 2), colour=PURPLE)
    note(ax, (s[1] + 0.42, (s[2] + s[3]) / 2 + 0.1), "softmax\nper row", fontsize=9, va="bottom")
    wts = _matrix(
        ax,
        s[1] + 0.85,
        s_top,
        (T, T),
        PURPLE,
        "weights",
        "(T, T), rows sum to 1",
        shaded=past,
        hatched=future,
    )
    out = _matrix(
        ax,
        wts[1] + 0.9,
        s_top,
        (T, d_k),
        VERMILLION,
        "output",
        f"(T, d_v) = ({T}, {d_k})",
        shaded=full,
    )
    arrow(
        ax,
        (wts[1] + 0.1, (wts[2] + wts[3]) / 2),
        (out[0] - 0.1, (out[2] + out[3]) / 2),
        colour=VERMILLION,
    )
    note(
        ax,
        ((wts[1] + out[0]) / 2, (wts[2] + wts[3]) / 2 + 0.1),
        "@ V",
        fontsize=10,
        color=INK,
        va="bottom",
    )
    v = edges["V"]
    arrow(
        ax,
        (v[1] + 0.08, (v[2] + v[3]) / 2),
        ((out[0] + out[1]) / 2, out[3] - 0.4),
        colour=GREEN,
        bend=0.2,
    )
    return fig


def heads_split_merge(T: int = 4, C: int = 8, H: int = 2) -> Figure:
    """(B, T, C) split into H heads of width D = C / H, attended per head, merged back."""
    D = C // H
    colours = [BLUE, ORANGE, GREEN, PURPLE][:H]
    fig, ax = canvas(12.8, 3.2)
    top = 2.5

    q = (0.3, top)
    for head in range(H):
        grid(
            ax,
            (q[0] + head * D * CELL, q[1]),
            (T, D),
            CELL,
            colours[head],
            shaded={(r, c) for r in range(T) for c in range(D)},
        )
    ax.text(
        q[0] + C * CELL / 2,
        top + 0.14,
        "q = x W_Q",
        ha="center",
        va="bottom",
        fontsize=11,
        color=INK,
        fontweight="bold",
    )
    note(ax, (q[0] + C * CELL / 2, top - T * CELL - 0.2), "(B, T, C)")
    note(ax, (q[0] + C * CELL / 2, top - T * CELL - 0.45), f"C = H·D = {H}·{D}")
    left = q[0] + C * CELL + 0.35
    arrow(ax, (left, top - T * CELL / 2), (left + 0.8, top - T * CELL / 2))
    note(
        ax,
        (left + 0.4, top - T * CELL / 2 + 0.28),
        ".view(B, T, H, D)\n.transpose(1, 2)",
        fontsize=8.5,
        va="bottom",
    )
    slab_left = left + 1.05
    full = {(r, c) for r in range(T) for c in range(D)}
    for head in range(H):
        offset = head * 0.25
        grid(
            ax,
            (slab_left + offset, top + 0.3 - offset * 1.6),
            (T, D),
            CELL,
            colours[head],
            shaded=full,
        )
    note(
        ax,
        (slab_left + D * CELL / 2 + 0.15, top - T * CELL - 0.45),
        "(B, H, T, D)\none slab per head",
    )
    left = slab_left + D * CELL + H * 0.25 + 0.25
    arrow(ax, (left, top - T * CELL / 2), (left + 1.0, top - T * CELL / 2))
    note(
        ax,
        (left + 0.5, top - T * CELL / 2 + 0.28),
        "attention\nin each head",
        fontsize=8.5,
        va="bottom",
    )
    note(
        ax, (left + 0.5, top - T * CELL / 2 - 0.35), "scores\n(B, H, T, T)", fontsize=8.5, va="top"
    )
    out_left = left + 1.25
    for head in range(H):
        offset = head * 0.25
        grid(
            ax,
            (out_left + offset, top + 0.3 - offset * 1.6),
            (T, D),
            CELL,
            colours[head],
            shaded=full,
        )
    note(ax, (out_left + D * CELL / 2 + 0.15, top - T * CELL - 0.45), "(B, H, T, D)")
    left = out_left + D * CELL + H * 0.25 + 0.25
    arrow(ax, (left, top - T * CELL / 2), (left + 0.8, top - T * CELL / 2))
    note(
        ax,
        (left + 0.4, top - T * CELL / 2 + 0.28),
        ".transpose(1, 2)\n.reshape(B, T, C)",
        fontsize=8.5,
        va="bottom",
    )
    merged = (left + 1.05, top)
    for head in range(H):
        grid(
            ax,
            (merged[0] + head * D * CELL, top),
            (T, D),
            CELL,
            colours[head],
            shaded={(r, c) for r in range(T) for c in range(D)},
        )
    ax.text(
        merged[0] + C * CELL / 2,
        top + 0.14,
        "concat",
        ha="center",
        va="bottom",
        fontsize=11,
        color=INK,
        fontweight="bold",
    )
    note(ax, (merged[0] + C * CELL / 2, top - T * CELL - 0.2), "(B, T, C)")
    left = merged[0] + C * CELL + 0.2
    arrow(ax, (left, top - T * CELL / 2), (left + 0.55, top - T * CELL / 2))
    note(ax, (left + 0.28, top - T * CELL / 2 + 0.2), "@ W_O", fontsize=9, color=INK, va="bottom")
    final = (left + 0.7, top)
    grid(ax, final, (T, C), CELL, VERMILLION, shaded={(r, c) for r in range(T) for c in range(C)})
    note(ax, (final[0] + C * CELL / 2, top - T * CELL - 0.2), "(B, T, C)")
    note(
        ax,
        (6.4, 0.3),
        "k and v are split the same way; only the view changes, "
        "no numbers are copied until the final reshape",
        fontsize=9,
    )
    return fig
