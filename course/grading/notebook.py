"""Read a notebook file into cells, refusing anything that is not a usable notebook."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LAB_FILE = re.compile(r"^lab(\d+)_")


class UnusableInput(Exception):
    """The input cannot be graded; the message is one line for the user."""


@dataclass(frozen=True)
class Cell:
    kind: str  # "code", "markdown" or "raw"
    source: str

    @property
    def label(self) -> str:
        """The cell's first line of code, short, to name the cell in a report."""
        lines = [line.strip() for line in self.source.splitlines()]
        first = next((line for line in lines if line and not line.startswith("#")), "")
        return first if len(first) <= 40 else first[:39] + "…"


@dataclass(frozen=True)
class Notebook:
    path: Path
    cells: tuple[Cell, ...]
    lab: str | None  # "01", from metadata course.lab or the file name labNN_*

    def code_cells(self) -> list[tuple[int, Cell]]:
        """(number, cell) of each code cell; numbers count all cells from 1, like a reader."""
        return [(n, cell) for n, cell in enumerate(self.cells, 1) if cell.kind == "code"]


def normalise_lab(lab: object) -> str:
    """The two-digit name of a lab: 1, "1" and "01" all give "01"."""
    text = str(lab).strip()
    if not text.isdigit():
        raise ValueError(f"a lab number is made of digits, got {lab!r}")
    return f"{int(text):02d}"


def lab_from_name(path: Path) -> str | None:
    match = LAB_FILE.match(path.name)
    return normalise_lab(match[1]) if match else None


def read_notebook(path: Path) -> Notebook:
    """Parse `path` as a Jupyter notebook (format 4) or raise UnusableInput."""
    if not path.exists():
        raise UnusableInput(f"no such file: {path}")
    if path.is_dir():
        raise UnusableInput(f"{path} is a folder, not a notebook")
    if path.suffix != ".ipynb":
        raise UnusableInput(f"{path} is not a notebook: expected a .ipynb file")
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise UnusableInput(f"cannot read {path}: {error.strerror}") from None
    if not raw.strip():
        raise UnusableInput(f"{path} is empty (0 bytes): save the notebook again in Jupyter")
    try:
        data = json.loads(raw.decode("utf-8-sig"))  # a byte-order mark is harmless
    except UnicodeDecodeError as error:
        raise UnusableInput(
            f"{path} is corrupt: not UTF-8 text (byte {error.start}); save it again in Jupyter"
        ) from None
    except json.JSONDecodeError as error:
        raise UnusableInput(f"{path} is corrupt: not valid JSON ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        if isinstance(data, dict) and "worksheets" in data:
            raise UnusableInput(f"{path} is an old notebook (format 3): save it again in Jupyter")
        raise UnusableInput(f"{path} is JSON but not a Jupyter notebook: it has no list of cells")
    cells = tuple(_cell(path, number, raw) for number, raw in enumerate(data["cells"], 1))
    return Notebook(path, cells, _lab_from_metadata(data) or lab_from_name(path))


def _cell(path: Path, number: int, raw: Any) -> Cell:
    source = raw.get("source") if isinstance(raw, dict) else None
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str) or not isinstance(raw.get("cell_type"), str):
        raise UnusableInput(f"{path} is corrupt: cell {number} has no cell_type or source")
    return Cell(raw["cell_type"], source)


def _lab_from_metadata(data: dict[str, Any]) -> str | None:
    metadata = data.get("metadata")
    course = metadata.get("course") if isinstance(metadata, dict) else None
    lab = course.get("lab") if isinstance(course, dict) else None
    try:
        return normalise_lab(lab) if lab is not None else None
    except ValueError:
        return None
