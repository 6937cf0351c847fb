"""A mixture-of-experts layer as a picture (chapter 13): tokens, a router, experts, slots."""

from __future__ import annotations

from matplotlib.figure import Figure

from course.diagrams._draw import (
    BLUE,
    GREEN,
    INK,
    MUTED,
    ORANGE,
    VERMILLION,
    arrow,
    box,
    canvas,
    grid,
    note,
)


def expert_routing(
    choices: list[int],
    n_experts: int,
    capacity: int,
    tokens: list[str] | None = None,
) -> Figure:
    """Each token's arrow to its chosen expert; an expert fills ``capacity`` slots in token
    order, and a token that finds its expert full is dropped (dashed, crossed arrow).

    ``choices[t]`` is the expert token t chose (top-1 routing).
    """
    labels = tokens if tokens is not None else [f"token {t}" for t in range(len(choices))]
    gap = 0.62
    height = max(len(choices), n_experts * 1.4) * gap + 1.3
    fig, ax = canvas(9.2, height)
    token_y = [height - 0.9 - gap * t for t in range(len(choices))]
    expert_gap = (height - 1.6) / n_experts
    expert_y = [height - 0.9 - expert_gap * (e + 0.3) for e in range(n_experts)]
    span = token_y[0] - token_y[-1] + 0.5
    box(ax, (2.3, sum(token_y) / len(token_y)), (0.6, span), "", ORANGE)
    ax.text(2.3, sum(token_y) / len(token_y), "router: softmax, top-1", rotation=90,
            ha="center", va="center", color="white", fontweight="bold")  # fmt: skip
    used = [0] * n_experts
    for t, (label, expert) in enumerate(zip(labels, choices, strict=True)):
        box(ax, (0.8, token_y[t]), (1.1, 0.4), label, BLUE)
        fits = used[expert] < capacity
        used[expert] += fits
        colour = GREEN if fits else VERMILLION
        arrow(ax, (1.4, token_y[t]), (1.97, token_y[t]))
        start, end = (2.63, token_y[t]), (6.2, expert_y[expert])
        arrow(ax, start, end, colour=colour, width=1.4 if fits else 1.0,
              style="-|>" if fits else "-")  # fmt: skip
        if not fits:
            middle = (start[0] * 0.6 + end[0] * 0.4, start[1] * 0.6 + end[1] * 0.4)
            ax.text(*middle, "✕ dropped", color=VERMILLION, fontsize=9, ha="center",
                    va="center", backgroundcolor="white")  # fmt: skip
    for e in range(n_experts):
        box(ax, (7.0, expert_y[e]), (1.5, 0.5), f"expert {e}", GREEN, filled=True)
        shaded = {(0, c) for c in range(min(used[e], capacity))}
        grid(ax, (7.95, expert_y[e] + 0.12), (1, capacity), 0.24, GREEN, shaded=shaded)
        note(ax, (7.95 + 0.12 * capacity, expert_y[e] - 0.3),
             f"{min(used[e], capacity)}/{capacity} slots", color=INK)  # fmt: skip
    note(ax, (4.6, 0.35), "each token runs through one expert; a token past its expert's "
         "capacity skips the layer (the residual carries it)", color=MUTED)  # fmt: skip
    return fig
