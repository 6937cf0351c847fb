"""The built book works offline: every page, with its math, images and interactive figures.

Build it first (``make book``). The static tests read the HTML; the ``browser`` test
opens every page in headless Chromium, served on 127.0.0.1 with every other host
blocked, and plays with each interactive figure.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import matplotlib.pyplot as plt
import numpy as np
import pytest
import yaml
from playwright.sync_api import Browser, Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from course import plots
from course.widgets import frame_selector

if TYPE_CHECKING:
    from conftest import BookServer

ROOT = Path(__file__).resolve().parent.parent
CDN_HOSTS = ("cdn.jsdelivr.net", "cdnjs.cloudflare.com", "unpkg.com")
NOT_PAGES = {"_static", "_sources", "_images", "_downloads"}  # folders of assets, not pages

#: Vendored scripts that name a CDN in code this book never runs, and why it never runs.
CDN_NAMED_BUT_UNUSED = {
    "_static/@jupyter-widgets/html-manager/dist/embed-amd.js": (
        "default module CDN, replaced by the script's data-jupyter-widgets-cdn attribute"
    ),
    "_static/mathjax/tex-chtml.js": (
        "speech-rule-engine defaults (MathJax points it at _static/mathjax/sre)"
        " and Internet Explorer polyfills"
    ),
}
#: Paths a browser asks for on its own, which the book may lack, and why that is fine.
MAY_BE_MISSING = {"/favicon.ico": "Chromium asks every site for one; the book sets none"}
#: Chromium's console line for any HTTP error; the server log reports those with their path.
HTTP_ERROR_CONSOLE = "Failed to load resource: the server responded with a status of"

WIDGET_PAGE_SCRIPTS = {
    "_static/mathjax2-shim.js",
    "_static/widgets-config.js",
    "_static/requirejs/require.js",
    "_static/@jupyter-widgets/html-manager/dist/embed-amd.js",
}
MATHJAX_SCRIPT = "_static/mathjax/tex-chtml.js"
VIEW_SCRIPT = 'script[type="application/vnd.jupyter.widget-view+json"]'


def book_pages(book_html: Path) -> list[Path]:
    """Every HTML page of the book, relative to its folder."""
    pages = sorted(path.relative_to(book_html) for path in book_html.rglob("*.html"))
    return [page for page in pages if page.parts[0] not in NOT_PAGES]


def is_redirect(html: str) -> bool:
    """Whether a page only forwards the reader elsewhere (``index.html`` does)."""
    return re.search(r'<meta\s+http-equiv="refresh"', html, re.IGNORECASE) is not None


#: The attribute by which each kind of element fetches, and the <link> kinds that fetch.
SOURCE_ATTRIBUTE = {
    "script": "src",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "embed": "src",
    "audio": "src",
    "video": "src",
    "object": "data",
}
FETCHING_LINKS = frozenset(
    {"stylesheet", "preload", "modulepreload", "prefetch", "icon", "manifest"}
)


class LoadedUrls(HTMLParser):
    """The URLs a page fetches by itself (scripts, styles, images), not the links in it."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "link" and FETCHING_LINKS.intersection((attributes.get("rel") or "").split()):
            url = attributes.get("href")
        else:
            url = attributes.get(SOURCE_ATTRIBUTE.get(tag, ""))
        if url:
            self.urls.append(url)


def _toc_files(node: Any) -> Iterator[str]:
    """The ``root`` and every ``file`` named anywhere in a parsed ``_toc.yml``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file"):
                yield value
            else:
                yield from _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            yield from _toc_files(item)


def test_every_toc_entry_exists() -> None:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    missing = [
        name
        for name in _toc_files(toc)
        if not any((ROOT / f"{name}{suffix}").is_file() for suffix in ("", ".md", ".ipynb"))
    ]
    assert not missing, f"_toc.yml lists pages that do not exist: {missing}"


def _static_problems(book_html: Path, page: Path) -> list[str]:
    """What is wrong with the assets ``page`` loads, read from its HTML."""
    html = (book_html / page).read_text(encoding="utf-8")
    problems = [f"names the CDN {host}" for host in CDN_HOSTS if host in html]
    parser = LoadedUrls()
    parser.feed(html)
    loaded = set()
    for url in parser.urls:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            continue
        if parts.scheme or parts.netloc:
            problems.append(f"loads {url} from another site")
            continue
        target = (book_html / page).parent.joinpath(parts.path).resolve()
        if not target.is_file():
            problems.append(f"loads {url}, which is not in the build")
            continue
        name = target.relative_to(book_html.resolve()).as_posix()
        loaded.add(name)
        if target.suffix == ".js" and name not in CDN_NAMED_BUT_UNUSED:
            text = target.read_text(encoding="utf-8", errors="replace")
            problems += [f"loads {name}, which names {host}" for host in CDN_HOSTS if host in text]
    if re.search(r'class="math[ "]', html) and MATHJAX_SCRIPT not in loaded:
        problems.append(f"has math but does not load {MATHJAX_SCRIPT}")
    if "application/vnd.jupyter.widget-state+json" in html:
        problems += [
            f"has widgets but does not load {name}" for name in sorted(WIDGET_PAGE_SCRIPTS - loaded)
        ]
    return problems


def test_pages_load_only_vendored_assets(book_html: Path) -> None:
    problems = {
        page.as_posix(): found
        for page in book_pages(book_html)
        if (found := _static_problems(book_html, page))
    }
    assert not problems, f"pages that would need the network or miss assets: {problems}"


def test_figure_to_png_is_deterministic() -> None:
    drawn: list[int] = []

    def draw() -> bytes:
        fig, ax = plt.subplots()
        drawn.append(fig.number)
        plots.heatmap(ax, np.eye(2), ["a", "b"], ["c", "d"])
        return plots.figure_to_png(fig)

    first = draw()
    assert first.startswith(b"\x89PNG") and first == draw() and b"Software" not in first
    still_open = [number for number in drawn if plt.fignum_exists(number)]
    assert not still_open, "figure_to_png must close the figure"


@pytest.mark.parametrize("control", ["dropdown", "slider", "buttons"])
def test_frame_selector_stacks_one_image_per_frame(control: str) -> None:
    frames = {f"frame {i}": plots.figure_to_png(plt.figure(figsize=(1, 1))) for i in range(3)}
    box = frame_selector(frames, description="pick", control=control)  # type: ignore[arg-type]
    selector, stack = box.children
    assert list(selector.options) == list(frames) and selector.index == 0
    assert [image.value for image in stack.children] == list(frames.values())
    with pytest.raises(TypeError, match="PNG bytes"):
        frame_selector({"x": b"not a png"}, description="pick")
    with pytest.raises(ValueError, match="at least one frame"):
        frame_selector({}, description="pick")


# --- in the browser ------------------------------------------------------------------

MATH_STATE = r"""async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest("pre, code, script, style, textarea, mjx-container")) continue;
    if (/\\\(|\\\[|\$\$/.test(node.textContent)) raw.push(node.textContent.trim().slice(0, 80));
  }
  const math = Array.from(document.querySelectorAll(".math"));
  return {
    typeset: document.querySelectorAll("mjx-container").length,
    untypeset: math.filter((el) => !el.querySelector("mjx-container")).length,
    raw: raw,
  };
}"""

BROKEN_IMAGES = """async () => {
  const broken = [];
  for (const img of document.images) {
    img.loading = "eager";
    await img.decode().catch(() => null);
    if (!img.complete || img.naturalWidth === 0) broken.push(img.getAttribute("src"));
  }
  return [document.images.length, broken];
}"""

#: What a frame selector shows: the image's URL, pixel width and a SHA-256 of its bytes.
SHOWN = """async (figure) => {
  const img = figure.querySelector(".frame-stack img");
  if (!img) return null;
  await img.decode().catch(() => null);
  const bytes = await (await fetch(img.src)).arrayBuffer();
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return {src: img.src, width: img.naturalWidth, digest: Array.from(digest).join(",")};
}"""

CHANGED = """([figure, before]) => {
  const img = figure.querySelector(".frame-stack img");
  return img !== null && img.src !== before && img.complete && img.naturalWidth > 0;
}"""


def _select_frame(page: Page, figure: Locator, index: int, current: int) -> None:
    """Move the control of ``figure`` from frame ``current`` to frame ``index``, as a reader."""
    if figure.locator("select").count():
        figure.locator("select").select_option(index=index)
    elif figure.locator("button.widget-toggle-button").count():
        figure.locator("button.widget-toggle-button").nth(index).click()
    else:
        figure.locator(".noUi-handle").focus()
        key = "ArrowRight" if index > current else "ArrowLeft"
        for _ in range(abs(index - current)):
            page.keyboard.press(key)


def _frame_count(figure: Locator) -> int:
    if figure.locator("select").count():
        return figure.locator("select option").count()
    if figure.locator("button.widget-toggle-button").count():
        return figure.locator("button.widget-toggle-button").count()
    return int(float(figure.locator(".noUi-handle").get_attribute("aria-valuemax") or 0)) + 1


def _frame_selector_problems(page: Page, figure: Locator) -> list[str]:
    """Step the figure through every frame and one back; each step must change the image."""
    count = _frame_count(figure)
    if count < 2:
        return [f"a frame selector with {count} frame(s) has nothing to select"]
    shown = [figure.evaluate(SHOWN)]
    if shown[0] is None or not shown[0]["width"]:
        return ["a frame selector shows no image"]
    for current, index in [*((i - 1, i) for i in range(1, count)), (count - 1, count - 2)]:
        _select_frame(page, figure, index, current)
        try:
            page.wait_for_function(
                CHANGED, arg=[figure.element_handle(), shown[-1]["src"]], timeout=5_000
            )
        except PlaywrightTimeoutError:
            return [f"choosing frame {index} of a frame selector did not change the image"]
        shown.append(figure.evaluate(SHOWN))
        if shown[-1]["digest"] == shown[-2]["digest"]:
            return [f"frames {current} and {index} of a frame selector show the same image"]
    if shown[-1]["digest"] != shown[-3]["digest"]:
        return [f"going back to frame {count - 2} of a frame selector shows another image"]
    return []


def _widget_problems(page: Page) -> tuple[list[str], int]:
    """Problems of the page's widgets (all must render and respond), and their number."""
    views = page.locator(VIEW_SCRIPT).count()
    if not views:
        return [], 0
    rendered = ".widget-subarea > .jupyter-widgets"
    try:
        page.wait_for_function(
            f"() => document.querySelectorAll({rendered!r}).length >= {views}", timeout=20_000
        )
    except PlaywrightTimeoutError:
        return [f"{page.locator(rendered).count()} of {views} widgets rendered"], views
    figures = page.locator(".frame-selector")
    problems = []
    if figures.count() != views:
        problems.append(
            f"{views - figures.count()} widget(s) are not course.widgets."
            "frame_selector figures: nothing shows they respond without a kernel"
        )
    for index in range(figures.count()):
        problems += _frame_selector_problems(page, figures.nth(index))
    return problems, views


def _browser_problems(browser: Browser, server: BookServer, page_path: str) -> list[str]:
    """Open one page as a reader would, with every host but 127.0.0.1 blocked."""
    problems: list[str] = []
    requests: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        requests.append(url)
        if url.startswith(server.url):
            route.continue_()
        else:
            problems.append(f"request left 127.0.0.1: {url}")
            route.abort()

    def console(message: Any) -> None:
        if message.type == "error" and not message.text.startswith(HTTP_ERROR_CONSOLE):
            problems.append(f"console error: {message.text}")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", route)
    page = context.new_page()
    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    server.served.clear()
    try:
        page.goto(server.url + page_path, wait_until="load")
        widget_problems, widgets = _widget_problems(page)
        math = page.evaluate(MATH_STATE)
        images, broken = page.evaluate(BROKEN_IMAGES)
    finally:
        context.close()
    problems += widget_problems
    problems += [f"{math['untypeset']} math element(s) not typeset"] if math["untypeset"] else []
    problems += [f"raw TeX left in the text: {text!r}" for text in math["raw"]]
    problems += [f"image does not decode: {src}" for src in broken]
    problems += [
        f"HTTP {status} for {path}"
        for path, status in server.served
        if status >= 400 and urlsplit(path).path not in MAY_BE_MISSING
    ]
    print(
        f"{page_path}: {len(requests)} requests, {images} images, "
        f"{math['typeset']} formulas, {widgets} widgets"
    )
    return problems


@pytest.mark.browser
def test_every_page_renders_offline(
    book_html: Path, book_server: BookServer, chromium: Browser
) -> None:
    pages = [
        page.as_posix()
        for page in book_pages(book_html)
        if not is_redirect((book_html / page).read_text(encoding="utf-8"))
    ]
    problems = {
        page: found for page in pages if (found := _browser_problems(chromium, book_server, page))
    }
    assert not problems, f"pages that do not render as they should: {problems}"
