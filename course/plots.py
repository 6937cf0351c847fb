"""The house style of the book's figures, and the few figure types it draws often.

Call :func:`use_house_style` once per page; every figure after it shares fonts,
colours and resolution. Output is deterministic: the same data gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, to_rgb
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

#: Okabe-Ito colours: distinct for readers with any common colour-vision deficiency.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # green
    "#D55E00",  # vermillion
    "#CC79A7",  # purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

#: Dots per inch of every raster figure: crisp on high-density screens, small files.
DPI = 150

_STYLE: dict[str, object] = {
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.figsize": (6.4, 4.0),
    "figure.facecolor": "white",
    "figure.constrained_layout.use": True,
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "axes.prop_cycle": cycler(color=PALETTE),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#444444",
    "axes.labelcolor": "#222222",
    "xtick.color": "#444444",
    "ytick.color": "#444444",
    "legend.frameon": False,
    "lines.linewidth": 2.0,
    "image.cmap": "Blues",
    "svg.hashsalt": "transformers-from-scratch",  # stable element ids in SVG output
}


def use_house_style(fmt: Literal["png", "svg"] = "png") -> None:
    """Apply the book's rcParams, and under IPython show figures inline as ``fmt``."""
    mpl.rcParams.update(_STYLE)
    from IPython import get_ipython

    if get_ipython() is not None:
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        metadata = {"Software": None} if fmt == "png" else {"Creator": None, "Date": None}
        set_matplotlib_formats(fmt, metadata=metadata)


def figure_to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes with no metadata (same figure, same bytes), then close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def _text_colour(rgb: tuple[float, float, float]) -> str:
    """Black or white, whichever reads better on a cell of colour ``rgb``."""
    r, g, b = rgb
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "black" if luminance > 0.5 else "white"


def _labels_fit(ax: Axes) -> bool:
    """Whether the column labels of ``ax`` sit side by side without touching."""
    widths = [label.get_window_extent().width for label in ax.get_xticklabels()]
    column = ax.get_window_extent().width / max(len(widths), 1)
    return all((left + right) / 2 < 0.9 * column for left, right in pairwise(widths))


def heatmap(
    ax: Axes,
    matrix: np.ndarray | Sequence[Sequence[float]],
    row_labels: Sequence[str] | None,
    col_labels: Sequence[str] | None,
    *,
    title: str | None = None,
    fmt: str = "{:.2f}",
    cmap: str = "Blues",
    annotate: bool = True,
    center: float | None = None,
) -> AxesImage:
    """Draw ``matrix`` as a grid of coloured cells, each labelled with its value.

    Rows are labelled on the left and columns on top, as in a printed table (tilted
    when they would not fit side by side); ``None`` labels show the indices.
    ``center`` makes the colour scale symmetric around that value (use it with a
    diverging ``cmap``). Returns the image, e.g. for a colorbar.
    """
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {values.shape}")
    if center is None:
        norm = Normalize(values.min(), values.max())
    else:
        radius = float(np.abs(values - center).max()) or 1.0
        norm = Normalize(center - radius, center + radius)
    image = ax.imshow(values, cmap=cmap, norm=norm, aspect="auto")
    rows, cols = values.shape
    ax.set_yticks(range(rows), row_labels if row_labels is not None else range(rows))
    ax.set_xticks(range(cols), col_labels if col_labels is not None else range(cols))
    ax.xaxis.tick_top()
    if not _labels_fit(ax):
        ax.tick_params(axis="x", labelrotation=45)
        plt.setp(ax.get_xticklabels(), ha="left", rotation_mode="anchor")
    ax.tick_params(length=0)
    ax.spines[:].set_visible(False)
    if title is not None:
        ax.set_title(title)
    if annotate:
        colours = image.cmap(norm(values))
        for (i, j), value in np.ndenumerate(values):
            ax.text(
                j,
                i,
                fmt.format(value),
                ha="center",
                va="center",
                color=_text_colour(to_rgb(colours[i, j])),
                fontsize="small",
            )
    return image


def outline_cells(ax: Axes, cells: Sequence[tuple[int, int]], *, color: str = PALETTE[1]) -> None:
    """Draw a thick outline around each ``(row, column)`` cell of a heatmap on ``ax``."""
    for row, col in cells:
        ax.add_patch(
            Rectangle(
                (col - 0.5, row - 0.5),
                1,
                1,
                fill=False,
                edgecolor=color,
                linewidth=2.5,
                clip_on=False,
            )
        )


def vector_arrows(
    ax: Axes,
    vectors: Sequence[np.ndarray | Sequence[float]],
    labels: Sequence[str],
    *,
    colors: Sequence[str] = PALETTE,
) -> None:
    """Draw 2-D ``vectors`` as labelled arrows from the origin, on equal axes."""
    points = np.asarray(vectors, dtype=float).reshape(-1, 2)
    if len(points) != len(labels):
        raise ValueError(f"{len(points)} vectors but {len(labels)} labels")
    for (x, y), label, colour in zip(points, labels, colors, strict=False):
        ax.annotate(
            "",
            xy=(x, y),
            xytext=(0, 0),
            arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 2},
        )
        ax.annotate(
            label,
            xy=(x, y),
            xytext=(4, 4),
            textcoords="offset points",
            color=colour,
            fontweight="bold",
        )
    low = np.minimum(points.min(axis=0), 0.0) * 1.15 - 0.5
    high = np.maximum(points.max(axis=0), 0.0) * 1.15 + 0.5
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_aspect("equal")
    ax.axhline(0, color="#999999", linewidth=0.8, zorder=0)
    ax.axvline(0, color="#999999", linewidth=0.8, zorder=0)
