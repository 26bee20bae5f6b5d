"""Every warning the reading and the intake can give is shown to the officer in Vietnamese."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from web.reading_warnings import in_vietnamese

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["ocr/read.py", "intake/pipeline.py", "intake/counter.py", "intake/watch.py", "intake/batch.py"]
# One instance of each warning written with values in it ("{}" where a value goes), as the code fills it in.
FILLED = {
    "{} read from print differs from the {}": "date_of_birth read from print differs from the MRZ",
    "only one side found ({}) in {} page {}": "only one side found (back) in IMG_0042.jpg page 1",
    "The scans hold {} cards; only the first was read.": "The scans hold 2 cards; only the first was read.",
    "The scan holds {} cards; only the first was read.": "The scan holds 3 cards; only the first was read.",
    "{} page {}: no card found": "SCAN0140.JPG page 2: no card found",
    "the sides were paired by their files' {} alone: check they are one person's": (
        "the sides were paired by their files' order alone: check they are one person's"
    ),
}
ENGLISH = (" the ", " read ", " found", " from ", " card", " differs", " paired")


def _shape(node: ast.JoinedStr) -> str:
    return "".join(part.value if isinstance(part, ast.Constant) else "{}" for part in node.values)  # type: ignore[misc]


def _warnings_in(source: str) -> list[str | ast.JoinedStr]:
    """The messages passed to `warnings.append` and to the reading's `doubt` in one module."""
    found: list[str | ast.JoinedStr] = []
    for node in ast.walk(ast.parse((ROOT / source).read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        if isinstance(function, ast.Attribute) and function.attr == "append":
            owner = function.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            message = node.args[0] if name == "warnings" and node.args else None
        elif isinstance(function, ast.Name) and function.id == "doubt" and len(node.args) >= 2:
            message = node.args[1]
        else:
            continue
        if isinstance(message, ast.Constant) and isinstance(message.value, str):
            found.append(message.value)
        elif isinstance(message, ast.JoinedStr):
            found.append(message)
    return found


def _examples() -> list[str]:
    examples = []
    for source in SOURCES:
        for message in _warnings_in(source):
            if isinstance(message, str):
                examples.append(message)
            else:
                shape = _shape(message)
                assert shape in FILLED, f"{source}: a new warning {shape!r}: add it to web.reading_warnings and here"
                examples.append(FILLED[shape])
    return examples


def test_the_warnings_are_found_in_the_code() -> None:
    examples = _examples()
    assert len(examples) >= 12
    assert "the QR and the MRZ give different ID numbers" in examples


@pytest.mark.parametrize("warning", _examples())
def test_each_warning_reads_in_vietnamese(warning: str) -> None:
    shown = in_vietnamese(warning)
    assert shown != warning
    assert not [word for word in ENGLISH if word in f" {shown.lower()} "], shown


def test_values_carry_over_and_unknown_warnings_are_kept() -> None:
    assert in_vietnamese("date_of_birth read from print differs from the MRZ").startswith("Ngày sinh đọc từ chữ in")
    assert "IMG_0042.jpg, trang 1" in in_vietnamese("only one side found (back) in IMG_0042.jpg page 1")
    assert "mặt sau" in in_vietnamese("only one side found (back) in IMG_0042.jpg page 1")
    assert in_vietnamese("something new") == "something new"
