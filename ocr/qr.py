"""The QR code of the chip CCCD and the Căn cước: finding, decoding and parsing its payload."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

import numpy as np


class QrPayloadError(ValueError):
    """The text is not an ID card's QR payload."""


@dataclass(frozen=True)
class QrData:
    """The payload's fields: `ID|old ID|name|DOB|sex|residence|issue date`, then anything the card appends."""

    id_number: str
    old_id_number: str | None
    full_name: str
    date_of_birth: date
    sex: str | None
    place_of_residence: str | None
    date_of_issue: date | None
    extra: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class QrCode:
    text: str | None  # None when a code was located but did not decode
    box: tuple[int, int, int, int]  # x, y, w, h in the image searched


def find_qr(gray: np.ndarray) -> list[QrCode]:
    """Every QR code zxing-cpp locates in a (card) image, decoded or not.

    zxing-cpp decodes about twice as many card QR codes as OpenCV's detector on the same scans (see
    bench/accuracy.py's QR figures), so it is the one reader.
    """
    import zxingcpp

    found = zxingcpp.read_barcodes(gray, formats=zxingcpp.barcode_formats_from_str("QRCode"), return_errors=True)
    codes = []
    for code in found:
        position = code.position
        xs = [position.top_left.x, position.top_right.x, position.bottom_right.x, position.bottom_left.x]
        ys = [position.top_left.y, position.top_right.y, position.bottom_right.y, position.bottom_left.y]
        box = (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        codes.append(QrCode(text=code.text if code.valid else None, box=box))
    return codes


def _date(text: str, what: str) -> date:
    if not re.fullmatch(r"[0-9]{8}", text):
        raise QrPayloadError(f"{what} is not DDMMYYYY: {text!r}")
    try:
        return date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError as error:
        raise QrPayloadError(f"{what} is not a date: {text!r}") from error


def parse_qr_payload(text: str) -> QrData:
    """Parse the payload; QrPayloadError for anything that is not one (never another exception)."""
    if not isinstance(text, str):
        raise QrPayloadError("the payload is not text")
    text = unicodedata.normalize("NFC", text.strip().lstrip("\ufeff"))
    # Empty fields are meaningful (`ID||NAME|...`: no old number): split without collapsing them.
    parts = text.split("|")
    if len(parts) < 7:
        raise QrPayloadError(f"{len(parts)} fields where the card's QR has at least 7")
    id_number, old_id, name, born, sex, residence, issued = (part.strip() for part in parts[:7])
    if not re.fullmatch(r"[0-9]{12}", id_number):
        raise QrPayloadError("the first field is not a 12-digit ID number")
    if old_id and not re.fullmatch(r"[0-9]{9}|[0-9]{12}", old_id):
        raise QrPayloadError("the second field is not an old ID number")
    name = " ".join(name.split()).upper()
    if not name or any(ch.isdigit() for ch in name):
        raise QrPayloadError("the third field is not a name")
    sex_value = {"NAM": "Nam", "NỮ": "Nữ"}.get(sex.upper()) if sex else None
    if sex and sex_value is None:
        raise QrPayloadError(f"the fifth field is not a sex: {sex!r}")
    return QrData(
        id_number=id_number,
        old_id_number=old_id or None,
        full_name=name,
        date_of_birth=_date(born, "the date of birth"),
        sex=sex_value,
        place_of_residence=" ".join(residence.split()) or None,
        date_of_issue=_date(issued, "the issue date") if issued else None,
        extra=tuple(parts[7:]),
    )
