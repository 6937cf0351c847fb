"""Benchmarks of the course: `python -m benchmarks` (or `make bench`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def record(path: Path, figures: dict[str, Any], *, show: bool = True) -> None:
    """Write ``figures`` as JSON to ``path`` (under benchmarks/results/) and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n")
    if show:
        for name, value in figures.items():
            print(f"{name:32} {value}")
    print(f"recorded in {path.relative_to(ROOT)}")
