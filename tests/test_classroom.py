"""Grading a class (course.grading.classroom) and the Gradescope bundle (course.grading.gradescope).

Both on the fixture lab 99 (10 points): a full and an untouched notebook, a cheat that
tries to reach another student's report, and the bundle run as Gradescope runs it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema

from course.grading import classroom, gradescope

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "grading_fixtures"
MASTER = FIXTURE / "solutions" / "lab99_fixture.ipynb"
TWIN = FIXTURE / "labs" / "lab99_fixture.ipynb"
TESTS = FIXTURE / "tests" / "labs"
SCHEMA = json.loads((ROOT / "tests" / "gradescope_results.schema.json").read_text())
CHEAT = (  # formatted with the gradebook's folder: a student who knows where reports go
    "import glob, json, os\n"
    "found = glob.glob({out!r} + '/**/*.json', recursive=True) + glob.glob('../*/*.json')\n"
    "found += [{out!r} + '/ada/lab99.json']\n"
    "for path in found:\n"
    "    try:\n"
    "        os.makedirs(os.path.dirname(path), exist_ok=True)\n"
    "        open(path, 'w').write(json.dumps({{'score': 0}}))\n"
    "    except OSError:\n"
    "        pass\n"
)


def _with_cell(base: Path, code: str, target: Path) -> None:
    notebook = json.loads(base.read_text())
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": []}
    notebook["cells"].append(cell | {"id": "extra", "source": code})
    target.write_text(json.dumps(notebook))


def test_class_is_graded_into_reports_and_a_gradebook(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_TESTS_DIR", str(TESTS))
    submissions = tmp_path / "submissions"
    for student in ("ada", "bob", "eve"):
        (submissions / student).mkdir(parents=True)
    shutil.copy(MASTER, submissions / "ada" / "lab99_fixture.ipynb")
    shutil.copy(TWIN, submissions / "bob" / "lab99_fixture.ipynb")
    out = tmp_path / "grades"
    _with_cell(MASTER, CHEAT.format(out=str(out)), submissions / "eve" / "lab99_fixture.ipynb")
    (submissions / "notes.txt").write_text("not a student")
    assert classroom.main([str(submissions), "--out", str(out), "-j", "2"]) == 0
    scores = {}
    for student in ("ada", "bob", "eve"):
        results = json.loads((out / student / "lab99.json").read_text())
        jsonschema.validate(results, SCHEMA)
        scores[student] = results["score"]
        summary = json.loads((out / student / "results.json").read_text())
        assert summary["labs"]["99"]["score"] == results["score"]
    assert scores == {"ada": 10, "bob": 0, "eve": 10}, "eve's cell must not touch ada's report"
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [(r["student"], r["score"], r["q1"], r["q3"]) for r in rows] == [
        ("ada", "10", "3", "4"),
        ("bob", "0", "0", "0"),
        ("eve", "10", "3", "4"),
    ]


def test_class_folder_that_is_not_one_exits_2(tmp_path: Path, capsys) -> None:
    assert classroom.main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_gradescope_bundle_runs_like_gradescope(tmp_path: Path) -> None:
    archive = gradescope.bundle("99", tmp_path / "out", tests=TESTS)
    with zipfile.ZipFile(archive) as zipped:
        names = set(zipped.namelist())
        assert {"setup.sh", "run_autograder", "tests/labs/test_lab99_fixture.py"} <= names
        assert not any(name.startswith(("solutions/", "labs/")) for name in names)
        root = tmp_path / "autograder"
        zipped.extractall(root / "source")
    for name in ("setup.sh", "run_autograder"):
        os.chmod(root / "source" / name, 0o755)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    for notebook, expected in ((MASTER, 10), (TWIN, 0)):
        shutil.rmtree(root / "submission", ignore_errors=True)
        (root / "submission").mkdir()
        shutil.copy(notebook, root / "submission" / notebook.name)
        run = subprocess.run(
            ["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        results = json.loads((root / "results" / "results.json").read_text())
        jsonschema.validate(results, SCHEMA)
        assert results["score"] == expected, results
        assert any(test["visibility"] == "after_published" for test in results["tests"])
