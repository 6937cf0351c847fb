"""Copy the book's JavaScript from node_modules into ``_vendor/``: ``python -m course.assets``.

``_config.yml`` serves ``_vendor/`` as static files (``html_static_path``), so every
page loads MathJax 3, requirejs and the widget manager from its own site, with no
network. Two small shims written here adapt them to each other. Idempotent: the
folder is rebuilt from scratch on every run.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"
VENDOR = ROOT / "_vendor"

#: (source under node_modules, destination under _vendor, glob patterns to copy).
COPIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # tex-chtml.js, the TeX extensions it autoloads, its fonts, and the menu with
    # the accessibility tools it loads on demand.
    (
        "mathjax/es5",
        "mathjax",
        (
            "tex-chtml.js",
            "input/tex/extensions/**/*",
            "output/chtml/fonts/woff-v2/*",
            "ui/*",
            "a11y/*",
            "input/mml.js",
            "input/mml/**/*",
            "sre/**/*",
        ),
    ),
    ("requirejs", "requirejs", ("require.js",)),
    # embed-amd.js bundles the manager and the standard widgets as named modules. Each
    # module's CSS loads Font Awesome (hashed names; browsers take woff2) from the folder
    # requirejs gives that module: <baseUrl>/@jupyter-widgets/ for base and controls,
    # <baseUrl>/@jupyter-widgets/html-manager/dist/ for the manager. Fonts go in both.
    (
        "@jupyter-widgets/html-manager/dist",
        "@jupyter-widgets/html-manager/dist",
        ("embed-amd.js", "*.woff2"),
    ),
    ("@jupyter-widgets/html-manager/dist", "@jupyter-widgets", ("*.woff2",)),
)

#: Loaded on every page before MathJax. The widget library typesets with the MathJax 2
#: API (``MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])``); the book runs MathJax
#: 3, which replaces ``window.MathJax`` as it starts. So every object ever assigned to
#: ``window.MathJax`` gets a hidden ``Hub`` whose ``Queue`` typesets with MathJax 3.
MATHJAX2_SHIM = """\
(function () {
  "use strict";
  function typeset(element) {
    var mathjax = window.MathJax;
    // Before MathJax 3 has started there is nothing to do: it typesets the page then.
    if (mathjax && mathjax.startup && mathjax.startup.promise) {
      mathjax.startup.promise = mathjax.startup.promise.then(function () {
        return mathjax.typesetPromise(element ? [element] : undefined);
      });
    }
  }
  var hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        if (Array.isArray(job) && job[0] === "Typeset") typeset(job[2]);
      });
    },
  };
  function withHub(value) {
    if (value && typeof value === "object" && !("Hub" in value)) {
      Object.defineProperty(value, "Hub", { value: hub, configurable: true });
    }
    return value;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
})();
"""

#: Loaded on widget pages before require.js and embed-amd.js: module names resolve
#: under ``_static/``, so the widget CSS finds its fonts there, and (with the script
#: attribute ``data-jupyter-widgets-cdn="npm/"``) a module that embed-amd.js does not
#: bundle is looked for under ``_static/npm/``, never on a CDN.
WIDGETS_CONFIG = """\
var require = { baseUrl: new URL(".", document.currentScript.src).href };
"""

SHIMS: dict[str, str] = {
    "mathjax2-shim.js": MATHJAX2_SHIM,
    "widgets-config.js": WIDGETS_CONFIG,
}


def install(node_modules: Path = NODE_MODULES, vendor: Path = VENDOR) -> int:
    """Rebuild ``vendor`` from ``node_modules``; return the number of files written."""
    if not node_modules.is_dir():
        raise FileNotFoundError(f"{node_modules} is missing: run npm ci")
    if vendor.exists():
        shutil.rmtree(vendor)
    count = 0
    for source, destination, patterns in COPIES:
        source_dir = node_modules / source
        files: set[Path] = set()
        for pattern in patterns:
            matches = [path for path in source_dir.glob(pattern) if path.is_file()]
            if not matches:
                raise FileNotFoundError(f"no {source_dir / pattern}: run npm ci")
            files.update(matches)
        for path in sorted(files):
            target = vendor / destination / path.relative_to(source_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        count += len(files)
    for name, text in SHIMS.items():
        (vendor / name).write_text(text, encoding="utf-8")
    return count + len(SHIMS)


def main() -> None:
    """Command line entry: install, or exit 1 with one line saying what to do."""
    try:
        count = install()
    except FileNotFoundError as error:
        sys.exit(f"course.assets: {error}")
    print(f"course.assets: {count} files in {VENDOR.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
