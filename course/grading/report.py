"""Reports of a Grading: the table for people, Gradescope's results.json, JUnit XML."""

from __future__ import annotations

import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from course.grading.outcomes import truncate
from course.grading.results import Grading, Mark

REASON_WIDTH = 160  # characters of a failure message in the table


def points(value: float) -> str:
    return f"{value:g}"


def percent(grading: Grading) -> str:
    value = grading.percent
    return f"{value:.0f}%" if value == int(value) else f"{value:.1f}%"


def table(grading: Grading) -> str:
    """Per question: tests passed, points, and why each failing test failed."""
    lines = [f"Lab {grading.lab}: {grading.notebook}" if grading.lab else str(grading.notebook)]
    lines += [grading.sandbox, ""] if grading.sandbox else [""]
    if grading.notes:
        lines += ["Notebook problems:", *(f"  {note}" for note in grading.notes), ""]
    lines.append(f"{'Question':<10}{'Tests':>7}{'Points':>10}")
    for question, marks in grading.by_question().items():
        passed = sum(mark.passed for mark in marks)
        score = points(sum(mark.score for mark in marks))
        worth = points(sum(mark.test.points for mark in marks))
        lines.append(f"{question:<10}{f'{passed}/{len(marks)}':>7}{f'{score}/{worth}':>10}")
        for mark in marks:
            if not mark.passed:
                reason = truncate(" ".join(mark.message.split()), REASON_WIDTH)
                hidden = " (hidden)" if mark.test.hidden else ""
                lines.append(f"    FAIL {mark.test.name}{hidden}: {reason}")
    lines += ["", total_line(grading)]
    if grading.all_points is not None and grading.all_points > grading.max_score:
        lines.append(public_only_line(grading.max_score, grading.all_points))
    return "\n".join(lines)


def total_line(grading: Grading) -> str:
    score, worth = points(grading.score), points(grading.max_score)
    return f"Total: {score}/{worth} points ({percent(grading)})"


def public_only_line(public: float, total: float) -> str:
    """The line a student's grader prints where hidden tests are absent."""
    hidden = total - public
    return (
        f"Public tests only: {points(public)} of {points(total)} points can be checked here; "
        f"the other {points(hidden)} are graded by your instructor's hidden tests."
    )


def gradescope(grading: Grading) -> dict[str, Any]:
    """results.json in Gradescope's format; hidden tests show after grades are published."""
    numbers = _test_numbers(grading)
    tests = []
    for mark in grading.marks:
        entry: dict[str, Any] = {
            "name": f"{mark.test.question}: {mark.test.name}",
            "score": mark.score,
            "max_score": mark.test.points,
            "output": "passed" if mark.passed else mark.message,
            "visibility": "after_published" if mark.test.hidden else "visible",
        }
        if mark.test.name in numbers:
            entry["number"] = numbers[mark.test.name]
        tests.append(entry)
    notes = "\n".join(["Notebook problems:", *grading.notes]) if grading.notes else ""
    return {
        "score": grading.score,
        "max_score": grading.max_score,
        "output": "\n".join(filter(None, [total_line(grading), notes])),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def junit(grading: Grading) -> ET.ElementTree:
    """JUnit XML, one testcase per graded test, for CI systems that display it."""
    failures = sum(not mark.passed for mark in grading.marks)
    suite = ET.Element(
        "testsuite",
        name=f"lab{grading.lab}",
        tests=str(len(grading.marks)),
        failures=str(failures),
        errors="0",
        skipped="0",
        time=f"{grading.seconds:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in [("score", grading.score), ("max_score", grading.max_score)]:
        ET.SubElement(properties, "property", name=name, value=points(value))
    for mark in grading.marks:
        suite.append(_testcase(grading.lab, mark))
    ET.SubElement(suite, "system-out").text = _xml_safe(grading.output)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.ElementTree(root)


def check_path(path: Path | None) -> None:
    """Refuse (UnusableInput) a report path that is a folder or a symbolic link."""
    from course.grading.notebook import UnusableInput

    if path is None:
        return
    if path.is_symlink():
        raise UnusableInput(f"the report path {path} is a symbolic link: give a plain file")
    if path.is_dir():
        raise UnusableInput(f"the report path {path} is a folder: give a file name")


def write_json(grading: Grading, path: Path) -> None:
    write_text(path, json.dumps(gradescope(grading), indent=2, ensure_ascii=False) + "\n")


def write_junit(grading: Grading, path: Path) -> None:
    text = ET.tostring(junit(grading).getroot(), encoding="unicode", xml_declaration=True)
    write_text(path, text + "\n")


def _testcase(lab: str, mark: Mark) -> ET.Element:
    case = ET.Element(
        "testcase",
        classname=f"lab{lab}.{mark.test.question}",
        name=mark.test.name,
        time=f"{mark.seconds:.3f}",
    )
    properties = ET.SubElement(case, "properties")
    ET.SubElement(properties, "property", name="points", value=points(mark.test.points))
    ET.SubElement(properties, "property", name="hidden", value=str(mark.test.hidden).lower())
    if not mark.passed:
        message = _xml_safe(mark.message)
        ET.SubElement(case, "failure", message=truncate(message, 200)).text = message
    return case


def _test_numbers(grading: Grading) -> dict[str, str]:
    """Gradescope's "number" of each test, "1.2" for the 2nd test of q1, when questions are qN."""
    numbers = {}
    for question, marks in grading.by_question().items():
        match = re.fullmatch(r"q(\d+)", question)
        if match:
            for index, mark in enumerate(marks, 1):
                numbers[mark.test.name] = f"{int(match[1])}.{index}"
    return numbers


def _xml_safe(text: str) -> str:
    """Drop the control characters XML 1.0 cannot hold (a notebook may print anything)."""
    return re.sub(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "", text)


def write_text(path: Path, text: str) -> None:
    """Write `text` to a new file, then move it over `path`: a file or link there is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)
