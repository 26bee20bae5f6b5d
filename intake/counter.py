"""One citizen's scans at the counter: straightened sides, the PDF attachment, and the form's prefill with crops."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import cv2
import numpy as np

from forms.rules import format_date
from intake.cards import CARD_DPI, CardImage
from intake.errors import IntakeError, NoCardFound
from intake.load import load_pages
from intake.pipeline import CardSides, attachment, pair_sides, read_sides, straighten
from ocr.classify import OcrEngine
from ocr.reading import SURE, CardReading

SCAN_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".pdf")

# The form's fields that the card fills, and the reading's field each comes from.
PREFILLED = ("id_number", "full_name", "date_of_birth")


@dataclass
class Prefill:
    """One form field as the machine proposes it: the value in the form's own format, and how sure it is."""

    value: str | None
    confidence: float
    source: str
    sure: bool
    side: str | None = None  # the card side and box it was read from, for the crop beside the field
    box: tuple[int, int, int, int] | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "value": self.value,
            "confidence": round(self.confidence, 3),
            "source": self.source,
            "sure": self.sure,
            "side": self.side,
            "box": list(self.box) if self.box else None,
        }


@dataclass
class CitizenIntake:
    """What the counter gets from one citizen's scans."""

    sides: CardSides
    reading: CardReading
    pdf: bytes = field(repr=False)
    prefill: dict[str, Prefill]
    side_jpegs: dict[str, bytes] = field(repr=False)
    warnings: list[str]


def _form_value(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if name == "date_of_birth":
        # The reading speaks ISO; the form speaks the seed's dd/mm/yyyy.
        try:
            return format_date(date.fromisoformat(value))
        except ValueError:
            return None
    return value


def _jpeg(image: object, quality: int = 80) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])  # type: ignore[call-overload]
    if not ok:
        raise ValueError("JPEG encoding failed")
    return bytes(data)


def crop_card(card_jpeg: bytes, box: Sequence[int]) -> bytes | None:
    """The part of a stored card image a field was read from, with a margin, as JPEG."""
    image = cv2.imdecode(np.frombuffer(card_jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None or len(box) != 4:
        return None
    x, y, w, h = (int(v) for v in box)
    margin = 6  # a little of the card around the value, so the eye sees the line, not just the letters
    height, width = image.shape[:2]
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(width, x + w + margin), min(height, y + h + margin)
    if x1 <= x0 or y1 <= y0:
        return None
    return _jpeg(image[y0:y1, x0:x1])


def newest_scans(folder: Path, *, window: float = 60.0, limit: int = 2, settle: float = 1.0) -> list[Path]:
    """The station folder's latest scanning: the newest file and those saved within `window` seconds before it.

    A file changed in the last `settle` seconds may still be being written by the scanner and is left for the
    next call. Oldest first, as the sides were scanned.
    """
    now = time.time()
    found: list[tuple[float, Path]] = []
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() not in SCAN_SUFFIXES:
            continue
        modified = path.stat().st_mtime
        if now - modified >= settle:
            found.append((modified, path))
    if not found:
        return []
    found.sort()
    newest = found[-1][0]
    return [path for modified, path in found if newest - modified <= window][-limit:]


def intake_citizen(scans: Sequence[tuple[str, bytes]], engine: OcrEngine | None = None) -> CitizenIntake:
    """The whole path for one citizen: files in any order and form, to the attachment and the prefill.

    `scans` are (file name, content) pairs. Raises the intake's own errors (unreadable file, no card found); a
    card whose fields cannot be read is not an error: its prefill comes back empty and not sure, for the officer.
    """
    if not scans:
        raise IntakeError("No scan was given.")
    cards: list[CardImage] = []
    for name, data in scans:
        for page in load_pages(data, name=name):
            cards += straighten(page, engine)
    pairs = pair_sides(cards)
    if not pairs:
        raise NoCardFound(scans[0][0], 0)
    sides = pairs[0]
    warnings = list(sides.warnings)
    if len(pairs) > 1:
        warnings.append(f"The scans hold {len(pairs)} cards; only the first was read.")
    return intake_sides(sides, engine, warnings=warnings)


def intake_sides(sides: CardSides, engine: OcrEngine | None = None, *, warnings: Sequence[str] = ()) -> CitizenIntake:
    """One card's sides, already found and paired, to its reading, prefill, side images and PDF attachment.

    The counter's path and the batch's share it, so that a draft from either holds the same things.
    """
    warnings = list(warnings)
    reading = read_sides(sides, engine)
    warnings += reading.warnings
    prefill: dict[str, Prefill] = {}
    for name in PREFILLED:
        found = reading.fields.get(name)
        if found is None:
            prefill[name] = Prefill(None, 0.0, "ocr", False)
            continue
        value = _form_value(name, found.value)
        prefill[name] = Prefill(
            value=value,
            confidence=found.confidence,
            source=found.source,
            sure=value is not None and found.confidence >= SURE,
            side=found.side,
            box=found.box,
        )
    merged = attachment(sides.images)
    pdf = merged.data
    named = [(name, card) for name, card in (("front", sides.front), ("back", sides.back)) if card is not None]
    if merged.dpi >= CARD_DPI:
        # The PDF holds each side at its own pixels: the stored side images (the reviewer's crops come from them)
        # are those very JPEGs, not a second encoding of each side (1.6 ms a side).
        side_jpegs = {name: jpeg for (name, _), jpeg in zip(named, merged.jpegs, strict=True)}
    else:  # the PDF had to shrink the sides to fit its budget: the stored images keep every pixel
        side_jpegs = {name: _jpeg(card.image) for name, card in named}
    return CitizenIntake(
        sides=sides, reading=reading, pdf=pdf, prefill=prefill, side_jpegs=side_jpegs, warnings=warnings
    )
