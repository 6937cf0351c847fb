"""Decoding as a tree (chapter 5): which continuations a beam search keeps and prunes."""

from __future__ import annotations

from matplotlib.figure import Figure

from course.diagrams._draw import BLUE, GREEN, MUTED, arrow, box, canvas, note

Path = tuple[str, ...]


def beam_tree(
    probabilities: dict[Path, float],
    kept: set[Path],
    best: Path,
    *,
    root: str = "<s>",
) -> Figure:
    """A left-to-right tree of word paths, each node showing the path's total probability.

    ``probabilities`` maps every drawn path (a tuple of words after ``root``) to its
    probability; ``kept`` holds the paths the beam kept at their step (filled boxes),
    the others were pruned (outlines); ``best`` is drawn in green.
    """

    def children(path: Path) -> list[Path]:
        return [p for p in probabilities if len(p) == len(path) + 1 and p[:-1] == path]

    def leaves(path: Path) -> list[Path]:  # depth first, in the order of the dict
        below = children(path)
        return [leaf for child in below for leaf in leaves(child)] if below else [path]

    depth = max(len(path) for path in probabilities)
    row_gap, column_gap = 0.55, 2.3
    height = row_gap * (len(leaves(())) + 1) + 0.9
    fig, ax = canvas(1.6 + column_gap * depth + 0.4, height)

    y_of = {leaf: height - 0.6 - row_gap * (i + 1) for i, leaf in enumerate(leaves(()))}

    def place(path: Path) -> float:  # a parent sits at the mean height of its children
        if path not in y_of:
            below = children(path)
            y_of[path] = sum(place(child) for child in below) / len(below)
        return y_of[path]

    root_y = place(())
    x_of = [0.8 + column_gap * i for i in range(depth + 1)]
    box(ax, (x_of[0], root_y), (0.9, 0.38), root, MUTED)
    size = (1.55, 0.38)
    for path, probability in probabilities.items():
        x, y = x_of[len(path)], y_of[path]
        parent_x = x_of[len(path) - 1]
        parent_y = y_of[path[:-1]]
        start = parent_x + (0.45 if len(path) == 1 else size[0] / 2)
        on_best = best[: len(path)] == path
        arrow(ax, (start, parent_y), (x - size[0] / 2, y), colour=GREEN if on_best else MUTED)
        colour = GREEN if on_best else (BLUE if path in kept else MUTED)
        box(ax, (x, y), size, f"{path[-1]}  {probability:.3f}", colour, filled=path in kept)
    for step in range(1, depth + 1):
        note(ax, (x_of[step], height - 0.3), f"step {step}")
    note(
        ax,
        (x_of[0], 0.3),
        "filled: kept in the beam; outline: pruned; green: the best path",
        ha="left",
    )
    return fig
