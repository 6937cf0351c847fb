"""Interactive figures that respond in the static book, where no kernel runs.

Every frame is rendered to PNG in Python up front. The control and the picture are
joined in the browser (``jslink``), so the saved widget state of a built page is
enough to flip between frames; a live notebook behaves the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import ipywidgets as widgets
from matplotlib.figure import Figure

from course.plots import figure_to_png

_CONTROLS: dict[str, type[widgets.DOMWidget]] = {
    "dropdown": widgets.Dropdown,
    "slider": widgets.SelectionSlider,
    "buttons": widgets.ToggleButtons,
}


def _png(frame: Figure | bytes) -> bytes:
    """PNG bytes of a frame given as a figure (rendered, then closed) or as PNG bytes."""
    if isinstance(frame, Figure):
        return figure_to_png(frame)
    if isinstance(frame, bytes) and frame.startswith(b"\x89PNG\r\n\x1a\n"):
        return frame
    raise TypeError(f"a frame must be a matplotlib Figure or PNG bytes, not {type(frame)}")


def frame_selector(
    frames: Mapping[str, Figure | bytes],
    *,
    description: str,
    control: Literal["dropdown", "slider", "buttons"] = "dropdown",
) -> widgets.VBox:
    """A control, labelled ``description``, that picks which of ``frames`` shows below it.

    ``frames`` maps each label to a figure (rendered to PNG, then closed) or to PNG
    bytes; the first frame shows at start. ``control`` is a drop-down menu, a slider
    or a row of buttons. Make the result the last expression of a cell.
    """
    if not frames:
        raise ValueError("frame_selector needs at least one frame")
    if control not in _CONTROLS:
        raise ValueError(f"control must be one of {sorted(_CONTROLS)}, not {control!r}")
    images = [
        widgets.Image(
            value=_png(frame), format="png", layout=widgets.Layout(max_width="100%", height="auto")
        )
        for frame in frames.values()
    ]
    stack = widgets.Stack(images, selected_index=0)
    stack.add_class("frame-stack")
    selector = _CONTROLS[control](
        options=list(frames),
        index=0,
        description=description,
        style={"description_width": "initial"},
    )
    widgets.jslink((selector, "index"), (stack, "selected_index"))
    box = widgets.VBox([selector, stack])
    box.add_class("frame-selector")  # the book's tests find the figure by these classes
    return box
