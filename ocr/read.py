"""Reading a card: QR, MRZ and printed fields merged by trust, cross-checked, each field with an honest confidence."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

import cv2
import numpy as np

from ocr import dates, mrz, names, qr
from ocr.classify import fold
from ocr.engine import OcrEngine, get_engine
from ocr.fields import RawField, line_crop, read_region, value_lines
from ocr.idnumber import IdNumberError, decode_id_number
from ocr.layout import LAYOUTS, FieldRegion
from ocr.reading import SURE, CardReading, FieldReading

WITH_QR = {"cccd_chip": "front", "cancuoc2024": "back", "cccd_barcode": "back"}
WITH_MRZ = ("cccd_chip", "cancuoc2024")
RENEWAL_AGES = (25, 40, 60)
# A card issued within two years before a renewal age lasts to the next one (Luật Căn cước công dân 2014, art. 21):
# from 58 at issue, none is due, and the card prints "Không thời hạn".
LIFELONG_FROM_AGE = RENEWAL_AGES[-1] - 2

# Confidence given to a value by where it came from. A decoded QR is exact (its own error correction); an MRZ field
# whose check digit holds is wrong only if two errors cancel; printed text is as sure as Tesseract and the checks
# below make it. Calibrated by bench/accuracy.py (see the README).
QR_CONFIDENCE = 0.99
MRZ_CONFIDENCE = 0.97
AGREEMENT_CONFIDENCE = 0.99
TEXT_CEILING = 0.85
# Fields a decoded QR gives exactly. The number and the date of birth are still read from print where the QR is on
# the other side (two cheap digit lines that catch a front and a back of two different cards); beside a QR on the
# same side (the chip CCCD's front) they would only repeat it.
QR_EXACT = ("full_name", "sex", "place_of_residence", "date_of_issue")
QR_CROSS_CHECKED = ("id_number", "date_of_birth")


@dataclass
class Sides:
    """The upright card images to read (either may be missing)."""

    front: np.ndarray | None
    back: np.ndarray | None

    def image(self, side: str) -> np.ndarray | None:
        return self.front if side == "front" else self.back


@dataclass
class _Evidence:
    """Every source's reading of the card, before they are merged."""

    qr: qr.QrData | None = None
    qr_seen: bool = False
    qr_box: tuple[int, int, int, int] | None = None
    mrz: mrz.MrzReading | None = None
    printed: dict[str, FieldReading] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def read_card(
    sides: Sides,
    document_type: str,
    engine: OcrEngine | None = None,
    *,
    use_qr: bool = True,
    printed: Mapping[str, FieldReading] | None = None,
) -> CardReading:
    """Read one card whose generation is known (from `ocr.classify`) from its upright sides.

    `use_qr=False` reads as if the QR code were unreadable (for measuring what print alone gives). `printed`: fields
    these very sides' print was already read for (`read_printed_field`, by pairing), taken as they are, not read again.
    """
    engine = engine or get_engine()
    grays = {
        side: cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        for side in ("front", "back")
        if (image := sides.image(side)) is not None
    }
    colours = {
        side: image for side in ("front", "back") if (image := sides.image(side)) is not None and image.ndim == 3
    }
    evidence = _Evidence()
    if use_qr:
        read_qr(grays, document_type, evidence)
    if evidence.qr is None:
        read_machine_zone(grays, document_type, evidence, engine)
        read_printed(grays, document_type, evidence, engine, colours=colours, known=printed)
    else:
        # The QR gives all the MRZ holds but the expiry; the MRZ is read only where the printed expiry is not sure.
        read_printed(grays, document_type, evidence, engine, colours=colours, known=printed)
        if not _expiry_sure(evidence):
            read_machine_zone(grays, document_type, evidence, engine)
    fields = merge(evidence, document_type)
    checks = cross_check(fields, evidence, document_type)
    return CardReading(
        document_type=document_type,
        sides=[side for side in ("front", "back") if side in grays],
        fields=fields,
        checks=checks,
        warnings=evidence.warnings,
    )


def read_qr(grays: dict[str, np.ndarray], document_type: str, evidence: _Evidence) -> None:
    """Decode and parse the QR code of the side that carries one."""
    side = WITH_QR.get(document_type)
    if side is None or side not in grays:
        return
    for code in qr.find_qr(grays[side]):
        evidence.qr_seen = True
        if code.text is None:
            continue
        try:
            evidence.qr = qr.parse_qr_payload(code.text)
            evidence.qr_box = code.box
            return
        except qr.QrPayloadError:
            evidence.warnings.append("the QR code holds something other than the card's data")
    if evidence.qr_seen:
        evidence.warnings.append("the QR code could not be decoded (smudged or damaged): fields read from print")


def read_machine_zone(grays: dict[str, np.ndarray], document_type: str, evidence: _Evidence, engine: OcrEngine) -> None:
    """The MRZ of the back of chip cards."""
    if document_type in WITH_MRZ and "back" in grays:
        evidence.mrz = mrz.read_mrz(grays["back"], engine)


def _expiry_sure(evidence: _Evidence) -> bool:
    """Whether the printed expiry, beside a decoded QR, makes the MRZ (a third of a chip card's reading) needless.

    A decoded QR gives every field the MRZ holds but the expiry, exactly. The expiry printed is enough where it
    parses cleanly and falls on a renewal birthday of the QR's date of birth; and where none reads, if the holder was
    old enough at issue for a card without expiry ("Không thời hạn": the MRZ says no more).
    """
    printed = evidence.printed.get("date_of_expiry")
    if evidence.qr is None or printed is None:
        return False
    if printed.value is None:
        issued = evidence.qr.date_of_issue
        return issued is not None and dates.age_on(evidence.qr.date_of_birth, issued) >= LIFELONG_FROM_AGE
    return printed.confidence >= SURE and _renewal_consistent(
        evidence.qr.date_of_birth, date.fromisoformat(printed.value)
    )


def read_printed(
    grays: dict[str, np.ndarray],
    document_type: str,
    evidence: _Evidence,
    engine: OcrEngine,
    *,
    colours: dict[str, np.ndarray] | None = None,
    known: Mapping[str, FieldReading] | None = None,
) -> None:
    """OCR of every printed field of this generation's layout, normalised.

    `colours`: the sides in colour (BGR), for the values a coloured seal is stamped over (see `FieldRegion`).
    `known`: fields already read from these sides (see `read_card`).
    """
    mrz_words = _mrz_name_words(evidence)
    for region in LAYOUTS.get(document_type, ()):
        if region.side not in grays:
            continue
        if evidence.qr is not None and (
            region.name in QR_EXACT or (region.name in QR_CROSS_CHECKED and region.side == WITH_QR[document_type])
        ):
            continue  # the QR gives it exactly; print would only cost time
        if known and (before := known.get(region.name)) is not None and before.side == region.side:
            evidence.printed[region.name] = dataclasses.replace(before)  # a copy: the checks below lower confidences
            continue
        if region.kind == "name":
            reading = _read_name(grays[region.side], region, engine, mrz_words)
        else:
            gray = grays[region.side]
            if region.under_seal and colours and region.side in colours:
                gray = _brightest_channel(colours[region.side], region)
            reading = _normalise(read_region(gray, region, engine), document_type)
        if reading is not None:
            evidence.printed[region.name] = reading


def read_printed_field(gray: np.ndarray, document_type: str, name: str, engine: OcrEngine) -> FieldReading | None:
    """One printed field of a side (a number or a date, not the name), as `read_card` reads and normalises it; None
    where the generation's layout has no such field."""
    region = next((r for r in LAYOUTS.get(document_type, ()) if r.name == name), None)
    if region is None:
        return None
    if region.kind == "name" or region.under_seal:
        raise ValueError(f"{name} of {document_type} is read with the whole card (read_card)")
    return _normalise(read_region(gray, region, engine), document_type)


def _brightest_channel(image: np.ndarray, region: FieldRegion) -> np.ndarray:
    """The side as grey with coloured ink faded: per pixel the brightest of B, G and R, inside the region only
    (the rest, never read for this field, is left white)."""
    x0, y0, x1, y1 = region.box
    gray = np.full(image.shape[:2], 255, np.uint8)
    gray[y0:y1, x0:x1] = image[y0:y1, x0:x1].max(axis=2)
    return gray


def _mrz_name_words(evidence: _Evidence) -> list[str] | None:
    reading = evidence.mrz
    if reading is None or reading.data is None:
        return None
    return reading.data.name_words or None


def _read_name(
    gray: np.ndarray, region: FieldRegion, engine: OcrEngine, mrz_words: list[str] | None
) -> FieldReading | None:
    lines = value_lines(gray, region)
    if not lines:
        return None
    line = max(lines, key=lambda candidate: candidate.height * candidate.box[2])
    choices = _without_label(engine.read_line_choices(line_crop(gray, line), lang="vie"))
    corrected = names.correct_name(choices, mrz_words=mrz_words)
    if not corrected.full_name:
        return None
    return FieldReading(corrected.full_name, corrected.confidence, "ocr", region.side, line.box, raw=choices.text)


def _without_label(choices: names.LineChoices) -> names.LineChoices:
    """The name without the label the CMND prints before it on the same line ("Họ tên", "Họ và tên:").

    Names are printed in capitals: leading words with a lower-case letter or a colon are the label's."""
    words = choices.text.split()
    if len(words) != len(choices.words):
        return choices  # the engine's words and its symbols disagree: leave the decoder to cope
    start = 0
    while start < len(words) - 1 and (any(ch.islower() for ch in words[start]) or words[start][-1] in ":;"):
        start += 1
    if start == 0:
        return choices
    return names.LineChoices(" ".join(words[start:]), choices.confidence, choices.words[start:])


_LABEL_END = re.compile(r"^.*?[:;]\s*")


def _after_label(text: str) -> str:
    """A value printed after its label on the same line: what follows the label's colon."""
    return _LABEL_END.sub("", text, count=1) if ":" in text or ";" in text else text


# Labels a value may follow on its line (folded: no diacritics), where no colon ends them (the CMND 1999).
_LABELS = re.compile(
    r"^\W*(NOI\s*)?(D\s*K\s*H\s*K\s*)?(\w*UONG\s*TRU|NGUYEN\s*QUAN|QUE\s*QUAN|QUAN|TRU|HO\s*(VA\s*)?TEN|SINH\s*NGAY)"
    r"(\s*/\s*PLACE OF \w+)?\W*"
)


def _strip_label(text: str) -> str:
    # Folding keeps one character per Vietnamese letter, so the match's length cuts the original text.
    found = _LABELS.match(fold(unicodedata.normalize("NFC", text)))
    return text[found.end() :] if found else text


def _clean_text(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"(\s*\.\s*){2,}|…", " ", text)  # the CMND's dotted lines
    text = re.sub(r"(?<=\s)\.(?=\w)", "", text)
    text = re.sub(r"[|¡_~“”\"']", "", text)
    text = re.sub(r"\s+", " ", text).strip(" .,-")
    text = re.sub(r"^[^\w]+", "", text)  # a rule or a smudge before the value
    text = re.sub(r"\s*,\s*", ", ", text)
    return text


# A glyph of the label read as a digit just before the day, with no space between ("Sinh ngày 02-11-1953" read
# with the digits whitelist as "302-11-1953"): the day is the two digits next to the separator.
_LABEL_DIGIT = re.compile(r"(?<!\d)(\d)(?=\d{2}\s*[/.-]\s*\d{1,2}\s*[/.-])")


def _normalise(raw: RawField, document_type: str) -> FieldReading | None:
    """One field's OCR text made into its value, with a confidence lowered where the text had to be coaxed."""
    if not raw.texts:
        return None
    region = raw.region
    text = " ".join(raw.texts)
    confidence = raw.confidence
    value: str | None
    if region.kind == "number":
        digits = re.sub(r"[^0-9]", "", text)
        expected = 9 if document_type == "cmnd9" else 12
        # The number follows its label ("SỐ", "Số:"); a label letter read as a digit lands in front of it.
        if len(digits) in (expected + 1, expected + 2):
            digits, confidence = digits[-expected:], confidence * 0.9
        value = digits if len(digits) == expected else None
        if value is None:
            return FieldReading(None, 0.0, "ocr", region.side, raw.box, raw=text)
    elif region.kind in ("date", "written_date"):
        found = dates.find_date(text)
        coaxed = found is None and (found := dates.find_date(_LABEL_DIGIT.sub(r"\1 ", text, count=1))) is not None
        if found is None:
            return FieldReading(None, 0.0, "ocr", region.side, raw.box, raw=text)
        value = found[0].isoformat()
        plausible = {"date_of_birth": dates.plausible_birth, "date_of_issue": dates.plausible_issue}.get(region.name)
        if plausible is not None and not plausible(found[0]):
            # A birth or issue date in the future, or before the cards existed: a digit misread.
            return FieldReading(value, 0.3, "ocr", region.side, raw.box, raw=text)
        # Tesseract's own confidence is unreliable on whitelisted lines (often 0); a clean parse of the whole
        # line counts for more than it. A digit dropped to make the date is the officer's to confirm.
        clean = re.fullmatch(r"[\s./:-]*[\d/.-]+[\s./:-]*", text)
        confidence = min(confidence, 0.6) if coaxed else max(confidence, 0.9 if clean else 0.7)
    elif region.kind == "sex":
        folded = fold(_after_label(text))
        if re.search(r"\bNAM\b", folded):
            value = "Nam"
        elif re.search(r"\bNU", folded):
            value = "Nữ"
        else:
            return FieldReading(None, 0.0, "ocr", region.side, raw.box, raw=text)
    else:
        first, *rest = raw.texts
        if not raw.label_cut:  # the label was read with the value: its text comes off
            first = _strip_label(_after_label(first))
        value = _clean_text(" ".join([first, *rest]))
        # Tesseract's confidence does not see a lost tone mark in a long address: printed text alone is never
        # "sure"; the officer's eye (or the QR) confirms it.
        confidence = min(confidence, TEXT_CEILING)
        if not value:
            return FieldReading(None, 0.0, "ocr", region.side, raw.box, raw=text)
    return FieldReading(value, confidence, "ocr", region.side, raw.box, raw=text)


def merge(evidence: _Evidence, document_type: str) -> dict[str, FieldReading]:
    """One value per field, by trust: QR, then MRZ whose check digits hold, then print."""
    fields = dict(evidence.printed)
    qr_side = WITH_QR.get(document_type)
    data = evidence.qr
    if data is not None:
        box = evidence.qr_box
        from_qr = {
            "id_number": data.id_number,
            "old_id_number": data.old_id_number,
            "full_name": data.full_name,
            "date_of_birth": data.date_of_birth.isoformat(),
            "sex": data.sex,
            "place_of_residence": data.place_of_residence,
            "date_of_issue": data.date_of_issue.isoformat() if data.date_of_issue else None,
        }
        for name, value in from_qr.items():
            if value is None:
                continue
            fields[name] = FieldReading(value, QR_CONFIDENCE, "qr", qr_side, box, raw=value)
    machine = evidence.mrz.data if evidence.mrz is not None else None
    if machine is not None:
        checks = machine.checks
        from_mrz = {
            "id_number": (
                machine.id_number,
                checks.get("id_number") and checks.get("document_number") and checks.get("document_matches_id"),
            ),
            "date_of_birth": (
                machine.date_of_birth.isoformat() if machine.date_of_birth else None,
                checks.get("birth"),
            ),
            "date_of_expiry": (
                machine.date_of_expiry.isoformat() if machine.date_of_expiry else None,
                checks.get("expiry"),
            ),
            "sex": (machine.sex, checks.get("composite")),
        }
        box = evidence.mrz.boxes[0] if evidence.mrz and evidence.mrz.boxes else None
        for name, (value, holds) in from_mrz.items():
            if value is None or not holds:
                continue
            current = fields.get(name)
            if current is not None and current.source == "qr":
                continue
            if current is not None and current.value == value:
                fields[name] = FieldReading(value, AGREEMENT_CONFIDENCE, "mrz", "back", box, raw=current.raw)
            elif current is None or current.value is None or current.confidence < MRZ_CONFIDENCE:
                fields[name] = FieldReading(value, MRZ_CONFIDENCE, "mrz", "back", box)
    sex = fields.get("sex")
    number = fields.get("id_number")
    if (sex is None or sex.value is None) and number is not None and number.value and len(number.value) == 12:
        # The sex printed could not be read, but the 12-digit number carries it (its century-and-sex digit).
        try:
            derived = decode_id_number(number.value).sex
        except IdNumberError:
            pass
        else:
            fields["sex"] = FieldReading(derived, min(number.confidence, 0.9), number.source, number.side, number.box)
    if not document_type.startswith("cmnd") and "nationality" in fields:
        nationality = fields["nationality"]
        if nationality.value and re.search(r"VIET ?NA[MN]?$", fold(nationality.value)):
            fields["nationality"] = FieldReading(
                "Việt Nam",
                max(nationality.confidence, 0.95),
                "ocr",
                nationality.side,
                nationality.box,
                raw=nationality.raw,
            )
    return fields


def cross_check(fields: dict[str, FieldReading], evidence: _Evidence, document_type: str) -> dict[str, object]:
    """Checks between fields and sources; each failure lowers the fields involved and adds a warning."""
    checks: dict[str, object] = {}
    checks["qr"] = "decoded" if evidence.qr else ("unreadable" if evidence.qr_seen else "absent")
    if evidence.mrz is not None and evidence.mrz.data is not None:
        checks["mrz"] = dict(evidence.mrz.data.checks)
    elif document_type in WITH_MRZ:
        checks["mrz"] = "not needed: the QR decoded" if evidence.qr else "not read"

    def doubt(names_: tuple[str, ...], warning: str, ceiling: float = 0.5) -> None:
        for name in names_:
            reading = fields.get(name)
            if reading is not None:
                reading.confidence = min(reading.confidence, ceiling)
        evidence.warnings.append(warning)

    id_number = fields.get("id_number")
    born = fields.get("date_of_birth")
    sex = fields.get("sex")
    if id_number and id_number.value and len(id_number.value) == 12:
        try:
            info = decode_id_number(id_number.value)
        except IdNumberError:
            checks["id_structure"] = False
            doubt(("id_number",), "the ID number's province or century digit is not a valid one")
        else:
            consistent = True
            if born and born.value:
                year = int(born.value[:4])
                if info.birth_year != year:
                    consistent = False
                    doubt(("id_number", "date_of_birth"), "the ID number's birth year disagrees with the date of birth")
            if sex and sex.value and info.sex != sex.value:
                consistent = False
                doubt(("id_number", "sex"), "the ID number's sex digit disagrees with the sex printed")
            checks["id_structure"] = consistent
    # Printed text against QR and MRZ: a disagreement is worth the officer's eye even when the QR wins.
    for name in ("id_number", "full_name", "date_of_birth", "sex"):
        printed = evidence.printed.get(name)
        chosen = fields.get(name)
        if printed is None or printed.value is None or chosen is None or chosen.source == "ocr":
            continue
        agree = printed.value == chosen.value
        checks.setdefault("sources_agree", {})[name] = agree  # type: ignore[index]
        if not agree and name != "full_name":
            doubt((name,), f"{name} read from print differs from the {chosen.source.upper()}", ceiling=0.85)
        elif not agree:
            evidence.warnings.append("full_name read from print differs from the QR (tone marks?)")
    if evidence.qr and evidence.mrz and evidence.mrz.data:
        machine = evidence.mrz.data
        if machine.id_number != evidence.qr.id_number and machine.checks.get("id_number"):
            doubt(("id_number",), "the QR and the MRZ give different ID numbers")
    expiry = fields.get("date_of_expiry")
    if (
        born
        and born.value
        and expiry
        and expiry.value
        and document_type in ("cccd_chip", "cccd_barcode", "cancuoc2024")
    ):
        checks["expiry_rule"] = _renewal_consistent(date.fromisoformat(born.value), date.fromisoformat(expiry.value))
        if not checks["expiry_rule"]:
            doubt(("date_of_expiry",), "the expiry is not a renewal birthday (25, 40 or 60)", ceiling=0.6)
    return checks


def _renewal_consistent(born: date, expiry: date) -> bool:
    """A CCCD expires on its holder's birthday at 25, 40 or 60 (29 February moves to 28 February or 1 March)."""
    if expiry.year - born.year not in RENEWAL_AGES:
        return False
    if (born.month, born.day) == (2, 29):
        return (expiry.month, expiry.day) in ((2, 28), (2, 29), (3, 1))
    return (expiry.month, expiry.day) == (born.month, born.day)
