"""The book's Colab and Binder buttons open runnable notebook twins of the chapters."""

from __future__ import annotations

import json
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

from course import launch


def test_chapter_twins_are_up_to_date() -> None:
    stale = [path.name for path in launch.stale()]
    assert not stale, f"out-of-date chapter twins {stale}: run `make labs`"


def test_colab_setup_does_nothing_outside_colab() -> None:
    namespace: dict[str, object] = {}
    exec(TransformerManager().transform_cell(launch.COLAB_SETUP), namespace)
    assert "google.colab" not in namespace["sys"].modules  # type: ignore[attr-defined]


def test_every_twin_starts_with_the_colab_setup() -> None:
    for path, text in launch.twins().items():
        notebook = launch.chapter_notebook(path.with_suffix(".md").read_text(encoding="utf-8"))
        assert "".join(notebook["cells"][0]["source"]) == launch.COLAB_SETUP, path.name
        assert text.endswith("\n")


def test_chapter_pages_launch_their_twins(book_html: Path) -> None:
    wrong = []
    for twin in launch.twins():
        page = book_html / "chapters" / twin.with_suffix(".html").name
        html = page.read_text(encoding="utf-8")
        colab = f"{launch.REPOSITORY.replace('https://github.com', 'https://colab.research.google.com/github')}/blob/main/chapters/{twin.name}"
        binder = f"urlpath=tree/chapters/{twin.name}"
        wrong += [f"{page.name}: no link to {url}" for url in (colab, binder) if url not in html]
    assert not wrong, wrong


def test_every_lab_runs_the_colab_setup_first() -> None:
    for folder in ("solutions", "labs"):
        for path in sorted((launch.REPO_ROOT / folder).glob("lab*.ipynb")):
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
            first_code = next(cell for cell in cells if cell["cell_type"] == "code")
            assert "".join(first_code["source"]) == launch.COLAB_SETUP, f"{folder}/{path.name}"
