"""A Gradescope autograder for one lab: `python -m course.grading.gradescope 03 --out DIR`.

Writes DIR/autograder.zip as Gradescope expects it: `setup.sh` (installs the pinned
packages and bubblewrap), `run_autograder` (grades the submitted notebook into
results/results.json) and the course's package with that lab's graded tests, hidden
ones included. `run_autograder` reads the autograder's root folder from
$AUTOGRADER_ROOT (default /autograder), so the bundle can be tried locally.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from course.grading.labs import REPO_ROOT, find_tests, tests_dir
from course.grading.notebook import UnusableInput, normalise_lab

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, in /autograder/source, when the autograder is built.
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip python3-venv bubblewrap
python3 -m pip install --break-system-packages -r requirements.txt -c constraints.txt
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission; $AUTOGRADER_ROOT overrides /autograder.
set -uo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
python="${{PYTHON:-python3}}"
mkdir -p "$root/results"
notebook=$(find "$root/submission" -maxdepth 3 -name 'lab{lab}_*.ipynb' -type f | sort | head -n 1)
if [ -z "$notebook" ]; then
  message="No lab{lab}_*.ipynb notebook was submitted."
  printf '{{"score": 0, "output": "%s", "tests": []}}\\n' "$message" > "$root/results/results.json"
  exit 0
fi
cd "$root/source"
PYTHONPATH="$root/source" COURSE_TESTS_DIR="$root/source/tests/labs" \\
  "$python" -m course.grade "$notebook" --json "$root/results/results.json"
"""


def bundle(lab: str, out: Path, tests: Path | None = None) -> Path:
    """Write out/autograder.zip for `lab`; returns its path."""
    lab = normalise_lab(lab)
    test_file = find_tests(lab, tests or tests_dir())
    out.mkdir(parents=True, exist_ok=True)
    archive = out / "autograder.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        _add_text(zipped, "setup.sh", SETUP)
        _add_text(zipped, "run_autograder", RUN.format(lab=lab))
        for name in ("requirements.txt", "constraints.txt", "pyproject.toml"):
            zipped.write(REPO_ROOT / name, name)
        for path in sorted((REPO_ROOT / "course").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zipped.write(path, path.relative_to(REPO_ROOT).as_posix())
        zipped.write(test_file, f"tests/labs/{test_file.name}")
    return archive


def _add_text(zipped: zipfile.ZipFile, name: str, text: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o755 << 16  # executable, as Gradescope runs them
    zipped.writestr(info, text)


def main(argv: list[str] | None = None) -> int:
    cli = argparse.ArgumentParser(prog="python -m course.grading.gradescope", description=__doc__)
    cli.add_argument("lab", help="the lab number, e.g. 03")
    cli.add_argument("--out", type=Path, default=Path("gradescope"), help="folder for the zip")
    options = cli.parse_args(argv)
    try:
        print(bundle(options.lab, options.out))
    except (UnusableInput, ValueError) as error:
        print(f"gradescope: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
