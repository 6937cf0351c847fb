"""Notebook twins of the chapters, which the book's Colab and Binder buttons open.

Colab cannot open a MyST-markdown chapter, so each ``chapters/NN_slug.md`` gets a
generated ``chapters/NN_slug.ipynb`` (excluded from the book build). The book theme
points its launch buttons at the ``.ipynb`` twin whenever one exists. Each twin starts
with :data:`COLAB_SETUP`, the cell that installs the course when run on Colab; the
labs start with the same cell.

    python -m course.launch            write the twins
    python -m course.launch --check    exit 1 when a twin is missing or out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from myst_nb.core.read import read_myst_markdown_notebook

REPO_ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "https://github.com/transformers-from-scratch/course"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}

#: First code cell of every chapter twin and every lab: a no-op outside Colab.
COLAB_SETUP = f"""\
# On Colab, fetch the course first (its package, data and tests); elsewhere this does nothing.
import sys

if "google.colab" in sys.modules:
    !git clone --quiet --depth 1 {REPOSITORY} /content/course
    %cd /content/course
    %pip install --quiet --editable . "ipywidgets>=8" myst-nb pytest-timeout"""


def _cell(cell_type: str, source: str, index: int, tags: list[str] | None = None) -> dict:
    cell: dict[str, Any] = {
        "cell_type": cell_type,
        "id": f"cell-{index:02d}",
        "metadata": {"tags": tags} if tags else {},
        "source": source.splitlines(keepends=True),
    }
    if cell_type == "code":
        cell |= {"execution_count": None, "outputs": []}
    return cell


def chapter_notebook(markdown: str) -> dict[str, Any]:
    """The notebook twin of one MyST-markdown chapter: its cells, no outputs."""
    parsed = read_myst_markdown_notebook(markdown)
    cells = [_cell("code", COLAB_SETUP, 0)]
    for cell in parsed.cells:
        tags = [tag for tag in cell.metadata.get("tags", []) if isinstance(tag, str)]
        cells.append(_cell(cell.cell_type, cell.source, len(cells), tags))
    metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    return {"cells": cells, "metadata": metadata, "nbformat": 4, "nbformat_minor": 5}


def render(notebook: dict[str, Any]) -> str:
    """Deterministic JSON text of a notebook, as Jupyter writes it."""
    return json.dumps(notebook, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def twins(root: Path = REPO_ROOT) -> dict[Path, str]:
    """Each chapter twin's path and the text it should hold."""
    return {
        chapter.with_suffix(".ipynb"): render(chapter_notebook(chapter.read_text(encoding="utf-8")))
        for chapter in sorted((root / "chapters").glob("[0-9][0-9]_*.md"))
    }


def stale(root: Path = REPO_ROOT) -> list[Path]:
    """Twins that are missing, differ from what their chapter gives, or lost their chapter."""
    expected = twins(root)
    orphans = [path for path in (root / "chapters").glob("*.ipynb") if path not in expected]
    return sorted(orphans) + [
        path
        for path, text in expected.items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.launch", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale twins")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale()
        for path in problems:
            print(f"{path.relative_to(REPO_ROOT)} is out of date: run `make labs`")
        return 1 if problems else 0
    for path, text in twins().items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
