"""The lab generator: solution blocks become stubs, output is deterministic, --check finds drift."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course.grading.generate import (
    STUB,
    cells_hash,
    main,
    problems,
    question_points,
    render,
    split_points,
    strip_solutions,
    student_notebook,
)
from course.grading.labs import Layout

FIXTURE = Path(__file__).resolve().parent / "grading_fixtures"


def test_block_becomes_hints_and_a_stub_at_its_indentation() -> None:
    source = "\n".join(
        [
            "def f(x):",
            '    """Doc."""',
            "    ### BEGIN SOLUTION",
            "    ### HINT: square it.",
            "    y = x * x",
            "    ### HINT: then return it.",
            "    return y",
            "    ### END SOLUTION",
            "",
            "f(2)",
        ]
    )
    assert strip_solutions(source).split("\n") == [
        "def f(x):",
        '    """Doc."""',
        "    # Hint: square it.",
        "    # Hint: then return it.",
        f"    {STUB}",
        "",
        "f(2)",
    ]


def test_top_level_blocks_and_untouched_code() -> None:
    assert strip_solutions("a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION") == f"a = 1\n{STUB}"
    assert strip_solutions("x = '### not a marker'") == "x = '### not a marker'"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("### BEGIN SOLUTION\nx = 1", "without an END"),
        ("x = 1\n### END SOLUTION", "line 2: END SOLUTION without a BEGIN"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
    ],
)
def test_unbalanced_markers_are_refused(source: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        strip_solutions(source)


def test_student_notebook_is_clean_and_deterministic() -> None:
    master = json.loads((FIXTURE / "solutions" / "lab99_fixture.ipynb").read_text())
    master["cells"][3]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "5"}]
    master["cells"][3]["execution_count"] = 7
    master["cells"][3]["metadata"] = {"tags": ["answer"], "collapsed": True}
    student = student_notebook(master, "99")
    assert student == student_notebook(json.loads(json.dumps(master)), "99")
    cell = student["cells"][3]
    assert (cell["outputs"], cell["execution_count"], cell["metadata"]) == (
        [],
        None,
        {"tags": ["answer"]},
    )
    assert [c["id"] for c in student["cells"][:2]] == ["cell-00", "cell-01"]
    assert student["metadata"]["course"] == {
        "lab": "99",
        "cells_sha256": cells_hash(student["cells"]),
    }
    assert student["metadata"]["kernelspec"]["name"] == "python3"
    assert render(student).endswith("}\n")


def test_check_reports_missing_stale_and_orphan_labs(tmp_path: Path, capsys) -> None:
    shutil.copytree(FIXTURE / "solutions", tmp_path / "solutions")
    layout = Layout(tmp_path)
    assert [p.endswith("lab99_fixture.ipynb is missing") for p in problems(layout)] == [True]
    assert main(["--root", str(tmp_path), "--check"]) == 1

    assert main(["--root", str(tmp_path)]) == 0
    written = (layout.labs / "lab99_fixture.ipynb").read_bytes()
    assert main(["--root", str(tmp_path)]) == 0, "a second run changes nothing"
    assert (layout.labs / "lab99_fixture.ipynb").read_bytes() == written
    assert main(["--root", str(tmp_path), "--check"]) == 0

    (layout.labs / "lab99_fixture.ipynb").write_text("{}")
    (layout.labs / "lab05_orphan.ipynb").write_text("{}")
    assert main(["--root", str(tmp_path), "--check"]) == 1
    err = capsys.readouterr().err
    assert "lab99_fixture.ipynb is out of date" in err
    assert "lab05_orphan.ipynb has no master" in err


def test_master_without_solution_block_is_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / "solutions").mkdir()
    notebook = {"cells": [{"cell_type": "code", "source": "x = 1", "metadata": {}}], "metadata": {}}
    (tmp_path / "solutions" / "lab07_plain.ipynb").write_text(json.dumps(notebook))
    assert main(["--root", str(tmp_path), "--check"]) == 2
    assert "no ### BEGIN SOLUTION block" in capsys.readouterr().err


def test_headings_say_how_many_points_are_public_and_hidden(tmp_path: Path) -> None:
    tests = tmp_path / "test_lab42_x.py"
    tests.write_text(
        "from course.grading import question\n\n\n"
        "@question('q1', points=2)\ndef test_a(nb): pass\n\n\n"
        "@question('q1', points=1, hidden=True)\ndef test_b(nb): pass\n\n\n"
        "@question('q2')\ndef test_c(nb): pass\n"
    )
    points = question_points(tests.read_text())
    assert points == {"q1": (2, 1), "q2": (1, 0)}
    text = "## Question 1: sums (3 points)\n\nWrite it.\n\n## Question 2: means (1 point)"
    assert split_points(text, points).splitlines()[::4] == [
        "## Question 1: sums (3 points: 2 checked by `check()`, 1 by hidden tests)",
        "## Question 2: means (1 point, all checked by `check()`)",
    ]
    with pytest.raises(ValueError, match="worth 4 points in its heading, but its tests give 3"):
        split_points("## Question 1: sums (4 points)", points)


def test_every_lab_heading_matches_its_tests_points() -> None:
    root = FIXTURE.parent.parent
    for layout in (Layout(root), Layout(FIXTURE)):
        for master in sorted(layout.solutions.glob("lab*.ipynb")):
            lab = master.name[3:5]
            points = question_points(next(layout.tests.glob(f"test_lab{lab}_*")).read_text())
            for cell in json.loads(master.read_text())["cells"]:
                if cell["cell_type"] == "markdown":
                    split_points("".join(cell["source"]), points)  # raises on a mismatch


def test_make_labs_keeps_a_lab_someone_edited_unless_forced(tmp_path: Path, capsys) -> None:
    shutil.copytree(FIXTURE / "solutions", tmp_path / "solutions")
    shutil.copytree(FIXTURE / "tests", tmp_path / "tests")
    root = ["--root", str(tmp_path)]
    assert main(root) == 0
    lab = tmp_path / "labs" / "lab99_fixture.ipynb"
    generated = lab.read_text()

    notebook = json.loads(generated)  # executed and saved by Jupyter: outputs, new format
    notebook["cells"][3]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "5"}]
    notebook["metadata"]["language_info"]["version"] = "3.11.7"
    lab.write_text(json.dumps(notebook, indent=2))
    master = tmp_path / "solutions" / "lab99_fixture.ipynb"
    master.write_text(master.read_text().replace("add two numbers", "add two integers"))
    assert main(root) == 0, "outputs and formatting are not work: the lab is regenerated"
    assert "add two integers" in lab.read_text()

    notebook = json.loads(lab.read_text())  # now the student writes an answer
    notebook["cells"][3]["source"] = ["def add(a, b):\n", "    return a + b\n"]
    lab.write_text(json.dumps(notebook))
    master.write_text(master.read_text().replace("add two integers", "add two numbers"))
    capsys.readouterr()
    assert main(root) == 1
    err = capsys.readouterr().err
    assert "kept labs/lab99_fixture.ipynb" in err.replace(str(tmp_path) + "/", "")
    assert "edited since it was generated" in err and "FORCE=1" in err
    assert "return a + b" in lab.read_text(), "the student's answer is still there"

    assert main([*root, "--force"]) == 0
    assert lab.read_text() == generated


def test_a_lab_without_a_hash_counts_as_edited(tmp_path: Path) -> None:
    shutil.copytree(FIXTURE / "solutions", tmp_path / "solutions")
    shutil.copytree(FIXTURE / "tests", tmp_path / "tests")
    lab = tmp_path / "labs" / "lab99_fixture.ipynb"
    lab.parent.mkdir()
    lab.write_text('{"cells": [], "metadata": {}}')
    assert main(["--root", str(tmp_path)]) == 1
    assert lab.read_text() == '{"cells": [], "metadata": {}}'
