"""The reading's warnings in the officer's language: `ocr` and `intake` write them in English (the JSON contract)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

FIELD_LABELS = {
    "id_number": "Số CMND/CCCD",
    "full_name": "Họ và tên",
    "date_of_birth": "Ngày sinh",
    "sex": "Giới tính",
    "nationality": "Quốc tịch",
    "place_of_origin": "Quê quán",
    "place_of_residence": "Nơi thường trú",
    "date_of_issue": "Ngày cấp",
    "date_of_expiry": "Có giá trị đến",
    "old_id_number": "Số CMND cũ",
}
_SOURCES = {"QR": "mã QR", "MRZ": "vùng MRZ (dòng mã ở mặt sau)"}
_SIDES = {"front": "mặt trước", "back": "mặt sau"}

_FIXED = {
    "the QR code holds something other than the card's data": "Mã QR không chứa dữ liệu của thẻ.",
    "the QR code could not be decoded (smudged or damaged): fields read from print": (
        "Không đọc được mã QR (mờ hoặc hỏng): các trường được đọc từ chữ in trên thẻ."
    ),
    "full_name read from print differs from the QR (tone marks?)": (
        "Họ và tên đọc từ chữ in khác với mã QR (có thể do dấu): đã lấy theo mã QR."
    ),
    "the ID number's province or century digit is not a valid one": (
        "Mã tỉnh hoặc chữ số thế kỷ của số CCCD không hợp lệ: kiểm tra lại số."
    ),
    "the ID number's birth year disagrees with the date of birth": (
        "Năm sinh trong số CCCD không khớp với ngày sinh: kiểm tra lại cả hai."
    ),
    "the ID number's sex digit disagrees with the sex printed": (
        "Chữ số giới tính trong số CCCD không khớp với giới tính in trên thẻ."
    ),
    "the QR and the MRZ give different ID numbers": "Mã QR và vùng MRZ cho hai số khác nhau: kiểm tra lại số.",
    "the expiry is not a renewal birthday (25, 40 or 60)": (
        "Ngày hết hạn không rơi vào sinh nhật tuổi 25, 40 hay 60: kiểm tra lại ngày hết hạn."
    ),
    "the two sides were paired by their names, though they did not read as a front and a back": (
        "Hai mặt được ghép theo tên tệp, dù máy không nhận ra đâu là mặt trước, đâu là mặt sau."
    ),
}


def _differs(found: re.Match[str]) -> str:
    label = FIELD_LABELS.get(found["field"], found["field"])
    return f"{label} đọc từ chữ in khác với {_SOURCES.get(found['source'], found['source'])}: kiểm tra lại."


def _one_side(found: re.Match[str]) -> str:
    side = _SIDES.get(found["side"], "chưa rõ mặt nào")
    return f"Chỉ tìm thấy một mặt thẻ ({side}) trong {found['file']}, trang {found['page']}."


_PATTERNS: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^(?P<field>\w+) read from print differs from the (?P<source>QR|MRZ)$"), _differs),
    (re.compile(r"^only one side found \((?P<side>\w+)\) in (?P<file>.+) page (?P<page>\d+)$"), _one_side),
    (
        re.compile(r"^The scans? holds? (?P<count>\d+) cards; only the first was read\.$"),
        lambda found: f"Bản quét có {found['count']} thẻ; chỉ thẻ đầu tiên được đọc.",
    ),
    (
        re.compile(r"^(?P<file>.+) page (?P<page>\d+): no card found$"),
        lambda found: f"{found['file']}, trang {found['page']}: không tìm thấy thẻ.",
    ),
    (
        re.compile(r"^the sides were paired by their files' (?P<how>.+) alone: check they are one person's$"),
        lambda found: (
            "Hai mặt được ghép chỉ theo "
            + {"order": "thứ tự tệp", "consecutive names": "tên tệp liên tiếp", "number": "số in trên thẻ"}.get(
                found["how"], found["how"]
            )
            + ": kiểm tra xem có đúng là của cùng một người."
        ),
    ),
)


def in_vietnamese(warning: str) -> str:
    """One warning as the officer reads it; a warning not known here is shown as written rather than lost."""
    known = _FIXED.get(warning)
    if known is not None:
        return known
    for pattern, say in _PATTERNS:
        found = pattern.match(warning)
        if found:
            return say(found)
    return warning


def all_in_vietnamese(warnings: Iterable[str]) -> list[str]:
    return [in_vietnamese(warning) for warning in warnings]
