"""What a reader of the built book relies on: alt text, working links, search, publishing.

Build the book first (``make book``). The publishing test runs the GitHub Pages
workflow's build command here, so the published book is the one the tests check.
"""

from __future__ import annotations

import shlex
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from test_book import book_pages, is_redirect

if TYPE_CHECKING:
    from conftest import BookServer
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent
PAGES_WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


class PageParts(HTMLParser):
    """The images, links and element ids of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.uncaptioned: list[str] = []  # content images outside a captioned <figure>
        self._figures: list[dict[str, list[str] | bool]] = []  # open <figure>s, innermost last

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if element_id := attributes.get("id"):
            self.ids.add(element_id)
        if tag == "img":
            self.images.append(attributes)
            source = attributes.get("src") or ""
            if "_static/" not in source:  # theme icons are not figures
                if self._figures:
                    self._figures[-1]["images"].append(source)  # type: ignore[union-attr]
                else:
                    self.uncaptioned.append(source)
        elif tag == "a" and (href := attributes.get("href")):
            self.links.append(href)
        elif tag == "figure":
            self._figures.append({"images": [], "caption": False})
        elif tag == "figcaption" and self._figures:
            self._figures[-1]["caption"] = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure" and self._figures:
            figure = self._figures.pop()
            if not figure["caption"]:
                self.uncaptioned += figure["images"]  # type: ignore[arg-type]


def _parts(page: Path) -> PageParts:
    parser = PageParts()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def test_every_image_has_alt_text(book_html: Path) -> None:
    missing = [
        f"{page.as_posix()}: {image.get('src')}"
        for page in book_pages(book_html)
        for image in _parts(book_html / page).images
        if not (image.get("alt") or "").strip()
    ]
    assert not missing, f"images without alt text (set mystnb image alt): {missing}"


def test_every_figure_has_a_caption(book_html: Path) -> None:
    missing = [
        f"{page.as_posix()}: {source}"
        for page in book_pages(book_html)
        for source in _parts(book_html / page).uncaptioned
    ]
    assert not missing, f"images without a caption (set mystnb figure caption): {missing}"


def _link_problem(book_html: Path, page: Path, href: str, ids: dict[Path, set[str]]) -> str:
    """Why an internal link of ``page`` is broken, or "" when it resolves."""
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith("#!"):
        return ""  # another site, or a theme's script hook
    source = book_html / page
    target = source if not parts.path else (source.parent / unquote(parts.path)).resolve()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"{href} -> no such file"
    if parts.fragment and target.suffix == ".html":
        if target not in ids:
            ids[target] = _parts(target).ids
        if unquote(parts.fragment) not in ids[target]:
            return f"{href} -> no element with id {parts.fragment!r}"
    return ""


def test_internal_links_resolve(book_html: Path) -> None:
    ids: dict[Path, set[str]] = {}
    broken = [
        f"{page.as_posix()}: {problem}"
        for page in book_pages(book_html)
        for href in _parts(book_html / page).links
        if (problem := _link_problem(book_html, page, href, ids))
    ]
    assert not broken, f"broken internal links: {broken}"


def test_every_page_has_a_title(book_html: Path) -> None:
    untitled = [
        page.as_posix()
        for page in book_pages(book_html)
        if "<title>" not in (html := (book_html / page).read_text(encoding="utf-8"))
        and not is_redirect(html)
    ]
    assert not untitled, f"pages without a <title>: {untitled}"


@pytest.mark.browser
def test_search_finds_attention(book_server: BookServer, chromium: Browser) -> None:
    page = chromium.new_page()
    try:
        page.goto(book_server.url + "search.html?q=attention", wait_until="load")
        results = page.locator("#search-results ul.search li")
        results.first.wait_for(timeout=15_000)
        titles = results.all_inner_texts()
    finally:
        page.close()
    assert titles, "searching the book for 'attention' found no page"


def _workflow_commands() -> list[str]:
    workflow = yaml.safe_load(PAGES_WORKFLOW.read_text(encoding="utf-8"))
    return [
        step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step
    ]


def test_pages_workflow_publishes_what_make_book_builds() -> None:
    workflow = yaml.safe_load(PAGES_WORKFLOW.read_text(encoding="utf-8"))
    uploads = [
        step["with"]["path"]
        for step in workflow["jobs"]["build"]["steps"]
        if step.get("uses", "").startswith("actions/upload-pages-artifact")
    ]
    assert uploads == ["_build/html"], f"the workflow should publish _build/html, not {uploads}"
    assert _workflow_commands() == ["make book"], _workflow_commands()


@pytest.mark.slow
@pytest.mark.rebuilds_book
def test_pages_workflow_build_command_runs_here() -> None:
    for command in _workflow_commands():
        finished = subprocess.run(
            shlex.split(command), cwd=ROOT, capture_output=True, text=True, timeout=900
        )
        assert finished.returncode == 0, f"`{command}` failed:\n{finished.stdout[-3000:]}"
    assert (ROOT / "_build" / "html" / "index.html").is_file()
