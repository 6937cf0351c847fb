"""Fixtures of the book tests (the built book, served on 127.0.0.1, and headless Chromium),
and the groups that keep tests sharing one costly run in one process under `pytest -n`."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

ROOT = Path(__file__).resolve().parent.parent

if os.environ.get("PYTEST_XDIST_WORKER"):  # make test runs one process per core: one thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")

#: No background traffic of Chromium's own: every request a test sees comes from a page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that must share a process when `make test` runs them in parallel.

    Every test that reads the built book runs in the process of the one that rebuilds
    it, so never during the rebuild; the tests of a graded lab file under plain pytest
    share one run of its notebook (pytest_plugin.executed). test_labs.py groups its own.
    """
    for item in items:
        path = Path(str(item.path))
        reads_book = "book_html" in getattr(item, "fixturenames", ())
        if reads_book or item.get_closest_marker("rebuilds_book"):
            item.add_marker(pytest.mark.xdist_group("book"))
        elif path.parent == ROOT / "tests" / "labs" and path.name.startswith("test_lab"):
            item.add_marker(pytest.mark.xdist_group(path.stem))


@dataclass
class BookServer:
    """The book served over HTTP; ``served`` logs (path, status) of every request."""

    url: str
    served: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture(scope="session")
def book_html() -> Path:
    """The built book's folder (``BOOK_HTML`` overrides it); fails if it is not built."""
    folder = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
    if not (folder / "index.html").is_file():
        pytest.fail(f"{folder / 'index.html'} is missing: run make book first", pytrace=False)
    return folder


@pytest.fixture(scope="session")
def book_server(book_html: Path) -> Iterator[BookServer]:
    """Serve ``book_html`` on a free port of 127.0.0.1 for the whole session."""
    server_log = BookServer(url="")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            server_log.served.append((self.path, int(code)))

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: failures are reported by the tests, with their page."""

    handler = functools.partial(Handler, directory=str(book_html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server_log.url = f"http://127.0.0.1:{server.server_address[1]}/"
    yield server_log
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Headless Chromium: ``$CHROMIUM``, else the system one, else Playwright's own."""
    from playwright.sync_api import sync_playwright

    executable = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
