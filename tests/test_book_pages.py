"""What a careful reader would catch: raw markup, figures that disagree, code that overflows.

The source checks read ``chapters/*.md``; the others read the built book (``make book``)
and its executed notebooks (``_build/jupyter_execute``), and the layout test opens every
page in headless Chromium at a desktop width and at a 390 px phone width.
"""

from __future__ import annotations

import ast
import builtins
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from myst_nb.core.read import read_myst_markdown_notebook
from test_book import book_pages, is_redirect

if TYPE_CHECKING:
    from conftest import BookServer
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.md"))
HIDDEN_TAGS = {"remove-cell", "remove-input"}  # the reader never sees these cells' code

#: MyST markup that only reaches the HTML when it failed to render.
RAW_MARKUP = re.compile(r"\{(?:glue|term|cite|numref|ref|doc|eq|math)(?::[a-z]+)?\}`|```\{")


# --- source: visible code stands alone -------------------------------------------------


def _bound_and_used(source: str) -> tuple[set[str], set[str]]:
    """Names a cell binds anywhere (assignments, defs, imports, arguments) and names it reads."""
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))
    )
    tree = ast.parse(code)
    bound: set[str] = set()
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return bound, used - bound


def _hidden_names_used(chapter: Path) -> list[str]:
    """Names visible code reads that only a hidden cell (so far) has defined."""
    notebook = read_myst_markdown_notebook(chapter.read_text(encoding="utf-8"))
    shown: set[str] = set(dir(builtins))
    hidden: set[str] = set()
    problems = []
    for number, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        bound, used = _bound_and_used(cell.source)
        if HIDDEN_TAGS.intersection(cell.metadata.get("tags", [])):
            hidden |= bound - shown
            continue
        problems += [f"code cell {number} uses {name}" for name in sorted(used & hidden - shown)]
        shown |= bound
    return problems


@pytest.mark.parametrize(
    "chapter",
    CHAPTERS,
    ids=lambda path: path.stem,
)
def test_visible_code_uses_only_visible_names(chapter: Path) -> None:
    problems = _hidden_names_used(chapter)
    assert not problems, f"{chapter.name}: defined only in hidden cells: {problems}"


def test_the_landing_page_links_every_lab() -> None:
    intro = (ROOT / "intro.md").read_text(encoding="utf-8")
    missing = [
        lab.name
        for lab in sorted((ROOT / "labs").glob("lab*.ipynb"))
        if "colab.research.google.com/github/" not in intro
        or f"blob/main/labs/{lab.name})" not in intro
        or f"labpath=labs/{lab.name})" not in intro
    ]
    assert not missing, f"intro.md has no Colab and Binder links for {missing}"


# --- built HTML ---------------------------------------------------------------------------


class VisibleText(HTMLParser):
    """The text of a page outside <script> and <style>, and every figure's alt and caption."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.figures: dict[str, dict[str, str]] = {}  # figure id -> {"alt", "caption"}
        self._skip = 0
        self._figure: str | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "style"):
            self._skip += 1
        elif tag == "figure":
            self._figure = attributes.get("id") or f"figure-{len(self.figures)}"
            self.figures[self._figure] = {"alt": "", "caption": ""}
        elif tag == "img" and self._figure is not None:
            self.figures[self._figure]["alt"] += attributes.get("alt") or ""
        elif tag == "figcaption":
            self._in_caption = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag == "figure":
            self._figure = None
        elif tag == "figcaption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._in_caption and self._figure is not None:
            self.figures[self._figure]["caption"] += data


def _page_text(book_html: Path, page: Path) -> VisibleText:
    parser = VisibleText()
    parser.feed((book_html / page).read_text(encoding="utf-8"))
    return parser


def test_no_page_shows_raw_myst_markup(book_html: Path) -> None:
    problems = []
    for page in book_pages(book_html):
        text = "".join(_page_text(book_html, page).text)
        problems += [
            f"{page}: …{text[max(0, m.start() - 30) : m.end() + 30]}…"
            for m in RAW_MARKUP.finditer(text)
        ]
    assert not problems, "unrendered MyST roles or directives:\n" + "\n".join(problems)


def _glued_texts(notebook: Any) -> dict[str, str]:
    """Every value an executed notebook glued, by name, as a {glue:text} role shows it."""
    values = {}
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            name = output.get("metadata", {}).get("scrapbook", {}).get("name")
            plain = output.get("data", {}).get("application/papermill.record/text/plain")
            if name is not None and plain is not None:
                values[name] = plain.strip().strip("'\"")
    return values


def test_figure_descriptions_state_the_glued_numbers(book_html: Path) -> None:
    """A value glued as ``<figure name>.<what>`` must appear in that figure's alt text.

    A chapter glues the numbers its alt text and caption state under such names, so a
    description that drifts from the data it describes fails here. The glued values are
    read from the build's execution cache, matched to the chapters as they are now.
    """
    from jupyter_cache import get_cache

    cache = get_cache(str(book_html.parent / ".jupyter_cache"))
    checked, problems = 0, []
    for chapter in CHAPTERS:
        source = read_myst_markdown_notebook(chapter.read_text(encoding="utf-8"))
        try:
            record = cache.match_cache_notebook(source)
        except KeyError:
            problems.append(f"{chapter.name}: not in the build's cache; rebuild the book")
            continue
        glued = _glued_texts(cache.get_cache_bundle(record.pk).nb)
        claims = {k: v for k, v in glued.items() if k.startswith("fig-") and "." in k}
        figures = _page_text(book_html, Path("chapters") / f"{chapter.stem}.html").figures
        for key, value in claims.items():
            figure = figures.get(key.split(".")[0])
            checked += 1
            if figure is None:
                problems.append(f"{chapter.name}: no figure {key.split('.')[0]} for {key}")
            elif value not in unescape(figure["alt"]) and value not in figure["caption"]:
                problems.append(
                    f"{chapter.name}: {key} = {value!r} is in neither the alt text "
                    f"{figure['alt']!r} nor the caption"
                )
    assert not problems, "\n".join(problems)
    assert checked, "no chapter glues the numbers its figures state"


# --- layout in the browser ------------------------------------------------------------------

WIDTHS = {"desktop": 1280, "phone": 390}

#: Horizontal overflow on the page, and in each code or output block, in CSS pixels.
MEASURE_OVERFLOW = """() => {
  const page = document.documentElement.scrollWidth - window.innerWidth;
  const selector = 'article div.highlight pre, article .cell_output pre';
  const blocks = [...document.querySelectorAll(selector)]
    .filter(pre => pre.scrollWidth - pre.clientWidth > 1)
    .map(pre => (pre.scrollWidth - pre.clientWidth) + ' px: '
                + pre.textContent.trim().slice(0, 60));
  return {page, blocks};
}"""


@pytest.mark.browser
@pytest.mark.parametrize("device", WIDTHS)
def test_nothing_scrolls_sideways(
    book_html: Path, book_server: BookServer, chromium: Browser, device: str
) -> None:
    context = chromium.new_context(viewport={"width": WIDTHS[device], "height": 900})
    page = context.new_page()
    page.route(re.compile(r"^(?!http://127\.0\.0\.1)"), lambda route: route.abort())
    problems = []
    try:
        for path in book_pages(book_html):
            if is_redirect((book_html / path).read_text(encoding="utf-8")):
                continue
            page.goto(book_server.url + path.as_posix(), wait_until="load")
            measured = page.evaluate(MEASURE_OVERFLOW)
            if measured["page"] > 1:
                problems.append(f"{path}: the page is {measured['page']} px too wide")
            problems += [f"{path}: a block overflows by {block}" for block in measured["blocks"]]
    finally:
        context.close()
    assert not problems, f"at {WIDTHS[device]} px:\n" + "\n".join(problems)


# --- the whole book as one PDF --------------------------------------------------------------


@pytest.mark.browser
def test_the_book_prints_to_one_pdf_with_math_and_figures(
    book_html: Path, chromium: Browser, tmp_path: Path
) -> None:
    from course.book_pdf import print_book

    out = tmp_path / "book.pdf"
    found = print_book(book_html, out, browser=chromium)
    assert found["raw"] == 0, f"{found['raw']} formulas were not typeset"
    assert not found["broken"], f"images that did not load: {found['broken'][:5]}"
    assert found["images"] > 40, f"only {found['images']} images reached the PDF"
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    sheets = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert sheets > 100, f"the PDF has only {sheets} pages"
