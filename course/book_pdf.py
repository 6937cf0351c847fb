"""The whole book as one PDF, printed from the built HTML by headless Chromium.

    python -m course.book_pdf                    _build/html -> _build/pdf/book.pdf
    python -m course.book_pdf --html DIR --out FILE

The book is served on 127.0.0.1 (no other host is reachable). Chromium opens the landing
page, replaces its content by the articles of every page in table-of-contents order (the
links and images rewritten to absolute URLs), lets MathJax typeset the whole, waits for
every image, and prints it. Interactive figures print as their current frame.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from playwright.sync_api import Browser

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Runs in the landing page: fetch each page, keep its article, typeset, wait for images.
ASSEMBLE = """async (pages) => {
  const parts = [];
  for (const path of pages) {
    const url = new URL(path, location.href);
    const html = await (await fetch(url)).text();
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const article = doc.querySelector('article.bd-article') || doc.querySelector('main');
    for (const element of article.querySelectorAll('[src], [href]')) {
      for (const name of ['src', 'href']) {
        const value = element.getAttribute(name);
        if (value && !value.startsWith('#') && !value.startsWith('data:')) {
          element.setAttribute(name, new URL(value, url).href);
        }
      }
    }
    article.querySelectorAll('.headerlink, .toggle-hidden, script').forEach(e => e.remove());
    const section = document.createElement('section');
    section.className = 'book-pdf-page';
    section.append(...article.childNodes);
    parts.push(section);
  }
  const target = document.querySelector('article.bd-article');
  target.replaceChildren(...parts);
  document.querySelectorAll('details').forEach(d => d.setAttribute('open', ''));
  if (window.MathJax && MathJax.typesetPromise) {
    MathJax.typesetClear && MathJax.typesetClear();
    await MathJax.typesetPromise();
  }
  await Promise.all([...document.images].map(img => img.complete ? null :
    new Promise(done => { img.onload = img.onerror = done; })));
  const raw = [...document.querySelectorAll('span.math, div.math')]
    .filter(e => !e.querySelector('mjx-container')).length;
  const broken = [...document.images].filter(img => img.naturalWidth === 0).map(i => i.src);
  return {raw, broken, images: document.images.length};
}"""

#: Print styles: no navigation, each page of the book starts a new sheet, figures fit.
PRINT_CSS = """
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-footer, .bd-footer-article,
.prev-next-area, .header-article, .bd-header-article, #pst-back-to-top { display: none !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
.book-pdf-page { break-before: page; }
.book-pdf-page:first-child { break-before: auto; }
img { max-width: 100% !important; break-inside: avoid; }
figure, div.highlight, .cell_output { break-inside: avoid; }
"""


def page_order(root: Path = REPO_ROOT) -> list[str]:
    """The built pages (``name.html``) in table-of-contents order, the landing page first."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part.get("chapters", [])]
    return [f"{name}.html" for name in files]


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on a free port of 127.0.0.1; yield its URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """No request log."""

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def print_book(
    html: Path, out: Path, executable: str | None = None, browser: Browser | None = None
) -> dict[str, object]:
    """Print the book built in ``html`` to ``out``; return what the assembly found.

    Uses ``browser`` when given (a test's Chromium), else launches ``executable``.
    """
    pages = page_order()
    missing = [page for page in pages if not (html / page).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{html} lacks {len(missing)} of the book's pages, such as {missing[0]}"
            " (run make book first)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    if browser is not None:
        with serve(html) as url:
            return _print(browser, url, pages, out)
    from playwright.sync_api import sync_playwright

    with serve(html) as url, sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            return _print(launched, url, pages, out)
        finally:
            launched.close()


def _print(browser: Browser, url: str, pages: list[str], out: Path) -> dict[str, object]:
    """Assemble ``pages`` served at ``url`` into one document and print it to ``out``."""
    page = browser.new_page(viewport={"width": 900, "height": 1200})
    try:
        page.route(
            "**/*",
            lambda route: route.continue_() if route.request.url.startswith(url) else route.abort(),
        )
        page.goto(url + pages[0], wait_until="load")
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("MathJax.startup.promise")
        found = page.evaluate(ASSEMBLE, pages)
        page.add_style_tag(content=PRINT_CSS)
        page.emulate_media(media="print")
        margin = {"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"}
        page.pdf(path=str(out), format="A4", print_background=True, margin=margin)
    finally:
        page.close()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=REPO_ROOT / "_build" / "html")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "_build" / "pdf" / "book.pdf")
    parser.add_argument("--chromium", default=None, help="Chromium executable (default: find)")
    args = parser.parse_args(argv)
    executable = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    from playwright.sync_api import Error as PlaywrightError

    try:
        found = print_book(args.html, args.out, executable)
    except FileNotFoundError as error:
        print(f"book_pdf: {error}", file=sys.stderr)
        return 2
    except PlaywrightError as error:
        print(f"book_pdf: Chromium failed: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    problems = []
    if found["raw"]:
        problems.append(f"{found['raw']} formulas were not typeset")
    if found["broken"]:
        problems.append(f"{len(found['broken'])} images did not load: {found['broken'][:3]}")
    if problems:
        print("book_pdf: " + "; ".join(problems), file=sys.stderr)
        return 1
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB, {found['images']} images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
