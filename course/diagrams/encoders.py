"""Encoder-only models as pictures: causal against bidirectional attention, BERT's corruption."""

from __future__ import annotations

from matplotlib.figure import Figure

from course.diagrams._draw import BLUE, GREEN, INK, MUTED, ORANGE, PURPLE, box, canvas, grid, note

CELL = 0.3


def _visible(character: str) -> str:
    """A character as a label: a space becomes an open box, a newline an arrow."""
    return {" ": "\u2423", "\n": "\u21b5"}.get(character, character)


def _mask(ax, left: float, top: float, tokens: list[str], allowed, title: str) -> None:
    """A (T, T) grid: shaded where query row t may attend to key column s."""
    T = len(tokens)
    every = {(r, c) for r in range(T) for c in range(T)}
    keep = {(r, c) for r, c in every if allowed(r, c)}
    grid(ax, (left, top), (T, T), CELL, BLUE, shaded=keep, hatched=every - keep)
    for i, token in enumerate(tokens):
        note(ax, (left + (i + 0.5) * CELL, top + 0.14), token, color=INK, fontsize=9)
        note(ax, (left - 0.16, top - (i + 0.5) * CELL), token, color=INK, fontsize=9)
    centre = left + T * CELL / 2
    ax.text(centre, top + 0.45, title, ha="center", fontsize=11, color=INK, fontweight="bold")
    note(ax, (centre, top - T * CELL - 0.2), "rows: queries, columns: keys")


def attention_masks(text: str = "def f(") -> Figure:
    """Which keys each query sees: a decoder's causal mask beside an encoder's full one.

    Rows and columns are the characters of ``text``.
    """
    tokens = [_visible(character) for character in text]
    T = len(tokens)
    width = 2 * T * CELL + 2.2
    fig, ax = canvas(width, T * CELL + 1.3)
    top = T * CELL + 0.65
    _mask(ax, 0.5, top, tokens, lambda r, c: c <= r, "decoder (causal)")
    _mask(ax, 0.5 + T * CELL + 1.2, top, tokens, lambda r, c: True, "encoder (bidirectional)")
    return fig


def mlm_corruption(text: str, chosen: dict[int, str], replacement: dict[int, str]) -> Figure:
    """The original characters, which were chosen, and what the model reads there.

    ``chosen`` maps a position to how it was corrupted ("mask", "random" or "keep");
    ``replacement`` gives the character the model reads at "random" positions.
    """
    colours = {"mask": PURPLE, "random": ORANGE, "keep": GREEN}
    shown = {"mask": "M", "random": None, "keep": None}
    n = len(text)
    width = max(n * 0.36 + 2.3, 7.5)
    fig, ax = canvas(width, 2.6)
    rows = (("original", 2.0), ("model reads", 1.2))
    for label, y in rows:
        note(ax, (1.2, y), label, color=INK, fontsize=9, ha="right")
    for i, character in enumerate(text):
        x = 1.5 + i * 0.36
        how = chosen.get(i)
        box(ax, (x, 2.0), (0.3, 0.4), _visible(character), MUTED, filled=False)
        if how is None:
            box(ax, (x, 1.2), (0.3, 0.4), _visible(character), MUTED, filled=False)
            continue
        read = shown[how] or (replacement[i] if how == "random" else character)
        box(ax, (x, 1.2), (0.3, 0.4), _visible(read), colours[how])
    legend = (
        "chosen positions (15 %):  purple = [MASK] (80 %),  "
        "orange = random (10 %),  green = kept (10 %)"
    )
    note(ax, (width / 2, 0.45), legend, fontsize=8.5)
    return fig
