"""Which way up a straightened card is, which side it shows and which generation it is, read from its text."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

import cv2
import numpy as np

from ocr.components import components
from ocr.engine import OcrEngine, get_engine
from ocr.fields import DIGITS, line_crop, value_lines
from ocr.layout import LAYOUTS
from ocr.mrz import find_mrz_lines, strip_diacritics
from ocr.qr import QrPayloadError, find_qr, parse_qr_payload

DOCUMENT_TYPES = ("cmnd9", "cmnd12", "cccd_barcode", "cccd_chip", "cancuoc2024", "unknown")

# How many text lines are read each way up to settle orientation. The widest lines are the title, the
# labels with their values and the MRZ: long runs of text on which a wrong way up reads as garbage.
ORIENTATION_LINES = 4
CLASSIFY_LINES = 7


@dataclass
class TextLine:
    box: tuple[int, int, int, int]  # x, y, w, h in the upright card
    text: str
    confidence: float


@dataclass
class SideClass:
    """What a card image is: `upside_down` says whether it must be turned half a turn to read it."""

    side: str  # front | back | unknown
    document_type: str  # one of DOCUMENT_TYPES; backs of the two CMND generations cannot be told apart: "cmnd"
    upside_down: bool
    orientation_confidence: float  # 0..1: how much better one way up read than the other
    lines: list[TextLine] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


def fold(text: str) -> str:
    """Upper case without diacritics (Đ as D): keywords match even when Tesseract misses a tone mark."""
    # One letter stays one letter (NFC in, NFC out): callers cut the original text at indices found in this one.
    return strip_diacritics(unicodedata.normalize("NFC", text)).upper()


def text_lines(card: np.ndarray, limit: int) -> list[tuple[int, int, int, int]]:
    """Boxes of the widest text lines on a card image, found by joining dark strokes horizontally."""
    gray = card if card.ndim == 2 else cv2.cvtColor(card, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    # Text is darker than its immediate surroundings; the pale guilloche background is not.
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 18)
    # The card's own edge (its dark outline, a sliver of the lid) frames the image; joined to the lines that
    # reach near it, it would make them one box.
    edge = max(6, width // 100)
    binary[:edge], binary[-edge:], binary[:, :edge], binary[:, -edge:] = 0, 0, 0, 0
    joined = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (25, 3)))
    boxes = []
    for x, y, w, h, area in _component_stats(joined):
        if not (12 <= h <= 70 and w >= 2.5 * h and w >= 80):
            continue
        if area < 0.15 * w * h:  # a frame or a ruled line, not text
            continue
        boxes.append((int(x), int(y), int(w), int(h)))
    boxes.sort(key=lambda b: b[2], reverse=True)
    margin = 5
    return [
        (
            max(0, x - margin),
            max(0, y - margin),
            min(width, x + w + margin) - max(0, x - margin),
            min(height, y + h + margin) - max(0, y - margin),
        )
        for x, y, w, h in boxes[:limit]
    ]


def _component_stats(binary: np.ndarray) -> np.ndarray:
    """Rows (x, y, w, h, area) of the 8-connected components of a binary image, its background left out."""
    count, _, stats = components(binary)
    return stats[1:count]


def _read(engine: OcrEngine, gray: np.ndarray, box: tuple[int, int, int, int], turned: bool) -> TextLine:
    x, y, w, h = box
    crop = gray[y : y + h, x : x + w]
    # Half resolution still reads the card's print (capitals 15+ px high) and costs half the time; telling
    # which way is up and which card this is needs words, not every diacritic.
    crop = cv2.resize(crop, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    if turned:
        crop = cv2.rotate(crop, cv2.ROTATE_180)
    line = engine.read_line(crop)
    return TextLine(box=box, text=line.text, confidence=line.confidence)


# A token read the right way up looks like a word: a capitalised, upper- or lower-case run of letters, a number
# or a date, perhaps with a trailing colon or comma. Upside-down print reads as mixtures like "Z10Z" or "8upU)".
_LETTERS = "A-Za-zÀ-ỹĐđ"
_WORDLIKE = re.compile(
    rf"[(\"']?([{_LETTERS}][a-zà-ỹđ]*|[A-ZÀ-ỸĐ]+|\d+([/.,:-]\d+)*|[{_LETTERS}]+/[{_LETTERS}]+)[.,:;)\"']?"
    r"|[A-Z0-9<]*<[A-Z0-9<]*"  # an MRZ line: its fillers point one way only
)


def _weight(line: TextLine) -> float:
    """How much a reading looks like text right way up: confidence times the letters of word-like tokens."""
    tokens = line.text.split()
    good = sum(len(token) for token in tokens if _WORDLIKE.fullmatch(token))
    return line.confidence * good


@dataclass
class _Codes:
    seen: tuple[tuple[float, float], ...]  # centres of every code located on this side, decoded or not
    qr_text: str | None = None
    qr_centre: tuple[float, float] | None = None

    @property
    def qr(self) -> bool:
        """A QR code (decoded or only located) is on this side."""
        return bool(self.seen)


def _find_qr(gray: np.ndarray) -> _Codes:
    # Errors included: a smudged QR that does not decode still says "this side has a QR".
    found = find_qr(gray)
    seen = tuple((x + w / 2, y + h / 2) for x, y, w, h in (code.box for code in found))
    for code, centre in zip(found, seen, strict=True):
        if code.text is not None:
            return _Codes(seen, qr_text=code.text, qr_centre=centre)
    return _Codes(seen)


# The generation whose cards were issued on a date, from the generations table of vn-id-cards.md: barcode CCCD
# 2016-2020, chip CCCD 2021 to 30 June 2024, Căn cước from 1 July 2024. Each prints its QR on the right.
_CHIP_FROM = date(2021, 1, 1)
_CANCUOC_FROM = date(2024, 7, 1)


def _from_qr(codes: _Codes, width: int, height: int) -> SideClass | None:
    """Side, generation and way up from a decoded QR alone, without reading a line: the fast path."""
    if codes.qr_text is None or codes.qr_centre is None:
        return None
    try:
        payload = parse_qr_payload(codes.qr_text)
    except QrPayloadError:
        return None
    issued = payload.date_of_issue
    if issued is None:
        return None
    if issued < _CHIP_FROM:
        document_type, side = "cccd_barcode", "back"
    elif issued < _CANCUOC_FROM:
        document_type, side = "cccd_chip", "front"
    else:
        document_type, side = "cancuoc2024", "back"
    x, y = codes.qr_centre
    right_top, left_bottom = x > width / 2 and y < height / 2, x < width / 2 and y > height / 2
    if not (right_top or left_bottom):
        return None
    return SideClass(side, document_type, upside_down=left_bottom, orientation_confidence=1.0, evidence=["QR"])


def _from_mrz(gray: np.ndarray, codes: _Codes, card: np.ndarray | None = None) -> SideClass | None:
    """A back with an MRZ, found by its three lines of uniform print along one long edge: the second fast path.

    A QR seen that does not decode may be the 2024 card's, smudged, or a fingerprint of the chip CCCD's back taken
    for one: in colour (`card`, BGR), the chip CCCD's gold chip tells them apart; in grey the text decides.
    """
    undecoded = codes.qr and not codes.qr_text
    if undecoded and (card is None or card.ndim != 3):
        return None
    width = gray.shape[1]
    for upside_down in (False, True):
        image = cv2.rotate(gray, cv2.ROTATE_180) if upside_down else gray
        lines = find_mrz_lines(image)
        # An MRZ spans the card from edge to edge; the CMND's dotted lines, also three at the bottom, do not.
        if lines and all(w > 0.8 * width and x < 0.15 * width for x, _, w, _ in lines):
            if undecoded:
                assert card is not None
                document_type = _back_by_chip(card, upside_down=upside_down)
                if document_type is None:
                    return None
                return SideClass("back", document_type, upside_down, 1.0, evidence=["MRZ", "QR seen"])
            # The 2024 card's QR is on the back with the MRZ; the chip CCCD's is on its front.
            document_type = "cancuoc2024" if codes.qr_text else "cccd_chip"
            return SideClass("back", document_type, upside_down, orientation_confidence=1.0, evidence=["MRZ"])
    return None


# The chip CCCD's gold chip, top left of its back (the 2024 card's back has none: its chip is on the front). Measured
# at 300 dpi on the MRZ backs of two generated sets: 12,800-13,700 gold px on every chip CCCD back in colour, none
# on any 2024 back. The red seal, on both backs, says the scan is in colour (a grey one shows no gold either).
BACK_CHIP_BOX = (30, 20, 220, 160)  # x0, y0, x1, y1 on the upright back


def _back_by_chip(card: np.ndarray, *, upside_down: bool) -> str | None:
    """An MRZ back whose QR was seen but not decoded: the chip CCCD's if its chip shows, the 2024 card's if the scan
    is in colour and no chip shows, None (the text decides) on a grey scan."""
    upright = cv2.rotate(card, cv2.ROTATE_180) if upside_down else card
    x0, y0, x1, y1 = BACK_CHIP_BOX
    _, gold = _emblem_counts(cv2.cvtColor(np.ascontiguousarray(upright[y0:y1, x0:x1]), cv2.COLOR_BGR2HSV))
    if gold >= CHIP_YELLOW:
        return "cccd_chip"
    red, _ = _emblem_counts(cv2.cvtColor(upright, cv2.COLOR_BGR2HSV))
    return "cancuoc2024" if gold == 0 and red >= SEAL_RED else None


def _decisive(leader: float, other: float) -> bool:
    """Whether the lines read so far (summed each way) settle which way up the card is.

    Measured over 1628 lines of 407 sides that needed reading (seed 5151): a line read the wrong way up never
    weighed more than 13.4; one read the right way up mostly 15-35. A lead of 20, the other way at most a fifth
    of it, settles it: 2.1 lines read on average instead of 3.2 (which asked for three lines), none turned wrong.
    """
    return leader >= 20 and other <= 0.2 * leader


def classify_side(card: np.ndarray, engine: OcrEngine | None = None) -> SideClass:
    """Orientation, side and generation of an upright-or-upside-down straightened card (BGR or gray)."""
    engine = engine or get_engine()
    gray = card if card.ndim == 2 else cv2.cvtColor(card, cv2.COLOR_BGR2GRAY)
    height, width = gray.shape
    codes = _find_qr(gray)
    fast = _from_qr(codes, width, height)
    if fast is not None:
        return fast
    emblem = _emblem_corner(card) if card.ndim == 3 else None
    if emblem is not None and not codes.qr:
        # Fronts named by sight, before the MRZ is looked for (no front has one) and any line is read: the 2024
        # card by its chip, the CMND by its dotted rules.
        if _front_chip(card, upside_down=emblem):
            return SideClass("front", "cancuoc2024", emblem, 1.0, evidence=["emblem", "chip"])
        if (by_rules := _front_by_rules(card, gray, engine, upside_down=emblem)) is not None:
            return by_rules
        if _red_number(card, upside_down=emblem):
            return SideClass("front", "cccd_barcode", emblem, 1.0, evidence=["emblem", "red number"])
    fast = _from_mrz(gray, codes, card)
    if fast is not None:
        return fast
    if emblem is None and not codes.qr_text and (boxes_turned := _fingerprint_frames(gray)) is not None:
        # No emblem, no QR decoded, no MRZ, and the two fingerprint boxes on the left: a CMND back, named by sight.
        # The barcode CCCD's back has the boxes too, and its QR on the other half: a code seen there (smudged,
        # not decoded) leaves it to the words. A code "seen" among the boxes is a fingerprint's ridges.
        on_boxes_half = [(x < width / 2) != boxes_turned for x, _ in codes.seen]
        if all(on_boxes_half):
            return SideClass("back", "cmnd", boxes_turned, 1.0, evidence=["fingerprints"])
    boxes = text_lines(gray, CLASSIFY_LINES)
    if not boxes:
        return SideClass("unknown", "unknown", False, 0.0)
    if emblem is not None:
        return _front_by_emblem(gray, boxes, codes, engine, upside_down=emblem)
    seal = _seal_half(card) if card.ndim == 3 else None
    if seal is not None:
        # A back by its seal, if its words agree: read one way, they must name a back and read as words. Else (a
        # front whose emblem faded, its red title taken for a seal) both ways, as below.
        verdict = _named(gray, boxes, [], codes, engine, seal, 1.0, evidence=("seal",))
        if verdict.side == "back" and verdict.document_type != "unknown" and _weights(verdict.lines) >= SEAL_WORDS:
            return verdict
    # Which way up: the widest lines read both ways; right way up reads as words with confidence.
    as_is: list[TextLine] = []
    turned: list[TextLine] = []
    score_as_is = score_turned = 0.0
    informative = 0
    for box in boxes:
        if informative >= ORIENTATION_LINES:
            break
        as_is.append(_read(engine, gray, box, turned=False))
        turned.append(_read(engine, gray, box, turned=True))
        informative += bool(as_is[-1].text or turned[-1].text)  # a blank line (a rule, a photo edge) tells nothing
        score_as_is = sum(_weight(line) for line in as_is)
        score_turned = sum(_weight(line) for line in turned)
        leader, other = max(score_as_is, score_turned), min(score_as_is, score_turned)
        if _decisive(leader, other):
            break
    upside_down = score_turned > score_as_is
    total = score_as_is + score_turned
    confidence = abs(score_as_is - score_turned) / total if total else 0.0
    lines = turned if upside_down else as_is
    return _named(gray, boxes, lines, codes, engine, upside_down, confidence)


def _named(
    gray: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    lines: list[TextLine],
    codes: _Codes,
    engine: OcrEngine,
    upside_down: bool,
    confidence: float,
    side: str | None = None,
    evidence: tuple[str, ...] = (),
) -> SideClass:
    """Side and generation of a card whose way up is settled: more lines read that way until they name it."""
    height, width = gray.shape
    for box in boxes[len(lines) :]:
        _, document_type, _ = _decide(lines, codes, side)
        # Named already: more lines cost time and say nothing new. A CMND front's number names its generation
        # (below); a CMND back cannot tell its own and takes its front's when the sides are paired. But a bilingual
        # front is the 2024 card only by what it lacks (a QR, the origin): that needs its own words, or all lines.
        if document_type != "unknown" and (document_type != "cancuoc2024" or _says(lines, "cancuoc2024")):
            break
        lines.append(_read(engine, gray, box, turned=upside_down))
    if upside_down:
        # Express boxes in the upright card's coordinates.
        for line in lines:
            x, y, w, h = line.box
            line.box = (width - x - w, height - y - h, w, h)
    lines.sort(key=lambda line: (line.box[1], line.box[0]))
    side, document_type, found = _decide(lines, codes, side)
    found += evidence
    if (side, document_type) == ("front", "cmnd"):
        upright = cv2.rotate(gray, cv2.ROTATE_180) if upside_down else gray
        document_type = _cmnd_by_number(upright, engine)
        if document_type != "cmnd":
            found.append(f"{document_type} number")
    return SideClass(side, document_type, upside_down, confidence, lines, found)


# The national emblem printed in the top-left corner of every generation's front: a red disc with a yellow star
# in a gold rim (measured at 300 dpi on 600 sides: 5,500-7,200 px red, 9,000-13,000 yellow; never both on a back).
# About a quarter of the red and an eighth of the yellow are asked for, and their absence from the opposite corner.
# A grey scan, or faded colours, leave the words to decide (287 of 300 fronts were settled so, none wrongly).
EMBLEM_BOX = (260, 230)  # width, height of the corner searched
EMBLEM_RED = 1500
EMBLEM_YELLOW = 1500


def _emblem_counts(hsv: np.ndarray) -> tuple[int, int]:
    """Red and yellow pixels of an HSV image (OpenCV's 8-bit HSV: hue 0-179)."""
    # inRange tests the three channels in one pass, under half the cost of NumPy's masks. Red wraps round the hue
    # circle: two disjoint ranges, their counts added.
    red = cv2.countNonZero(cv2.inRange(hsv, (0, 110, 70), (8, 255, 255))) + cv2.countNonZero(
        cv2.inRange(hsv, (170, 110, 70), (255, 255, 255))
    )
    yellow = cv2.countNonZero(cv2.inRange(hsv, (17, 110, 120), (35, 255, 255)))
    return red, yellow


def _emblem_corner(card: np.ndarray) -> bool | None:
    """Where the front's emblem is: False in the top-left (upright), True bottom-right (upside down), None unseen.

    A chip back's gold chip is yellow without red, the police seal red without yellow: neither passes for it.
    """
    height, width = card.shape[:2]
    box_w, box_h = EMBLEM_BOX
    corners = (card[:box_h, :box_w], card[height - box_h :, width - box_w :])
    (red_tl, yellow_tl), (red_br, yellow_br) = (
        _emblem_counts(cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_BGR2HSV)) for c in corners
    )

    def seen(red: int, yellow: int, other_red: int, other_yellow: int) -> bool:
        strong = red >= EMBLEM_RED and yellow >= EMBLEM_YELLOW
        return strong and other_red < 0.1 * red and other_yellow < 0.1 * yellow

    if seen(red_tl, yellow_tl, red_br, yellow_br):
        return False
    if seen(red_br, yellow_br, red_tl, yellow_tl):
        return True
    return None


# The 2024 card is the only one with its chip on the front: a gold square under the portrait. (The chip CCCD's is on
# its back.) Measured at 300 dpi over 1,200 sides of two generated sets: 10,800-11,900 gold px in this box on every
# 2024 front whose emblem was seen, none on any other front. The words named it only after 2.4 lines read (40 ms).
CHIP_BOX = (30, 470, 270, 630)  # x0, y0, x1, y1 on the upright front
CHIP_YELLOW = 3000


def _box_of(image: np.ndarray, box: tuple[int, int, int, int], *, upside_down: bool) -> np.ndarray:
    """What lies in a box given on the upright side (x0, y0, x1, y1), on an image that may be upside down (the box
    turned with it, its content not: counting pixels needs no turn)."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    if upside_down:
        x0, y0, x1, y1 = width - x1, height - y1, width - x0, height - y0
    return np.ascontiguousarray(image[y0:y1, x0:x1])


def _box_colours(card: np.ndarray, box: tuple[int, int, int, int], *, upside_down: bool) -> tuple[int, int]:
    """Red and yellow pixels in a box given on the upright front, for a front whose way up the emblem told."""
    return _emblem_counts(cv2.cvtColor(_box_of(card, box, upside_down=upside_down), cv2.COLOR_BGR2HSV))


def _front_chip(card: np.ndarray, *, upside_down: bool) -> bool:
    """Whether a front (its way up known from the emblem) shows the 2024 card's gold chip under its portrait."""
    _, yellow = _box_colours(card, CHIP_BOX, upside_down=upside_down)
    return yellow >= CHIP_YELLOW


# Both CMND generations write their values on dotted rules; no CCCD does. Dots counted in one 4 px band of rows of
# the value area (measured at 300 dpi on the 285 fronts whose emblem was seen in 300 cases of two generated sets:
# 41-101 on every CMND, at most 6 on the others). The CMND's labels (the words that named it) took 2.5-3 lines read,
# 45 ms; its number says which one.
RULES_BOX = (280, 150, 1000, 600)  # x0, y0, x1, y1 on the upright front
RULE_DOTS = 20


def _front_by_rules(card: np.ndarray, gray: np.ndarray, engine: OcrEngine, *, upside_down: bool) -> SideClass | None:
    """A CMND front (its way up known from the emblem; `card` in BGR, `gray` the same in grey) by its dotted rules,
    its generation by the colour of its top line or else its number's digits; None where the rules are not seen or
    the number does not say (the words decide then)."""
    upright = cv2.rotate(gray, cv2.ROTATE_180) if upside_down else gray
    x0, y0, x1, y1 = RULES_BOX
    binary = cv2.adaptiveThreshold(
        upright[y0:y1, x0:x1], 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 18
    )
    stats = _component_stats(binary)
    widths, heights = stats[:, 2], stats[:, 3]
    dots = stats[(widths >= 2) & (widths <= 6) & (heights >= 2) & (heights <= 6)]
    if len(dots) < RULE_DOTS or np.bincount(dots[:, 1] // 4).max() < RULE_DOTS:
        return None
    if (by_title := _cmnd_by_title(card, upside_down=upside_down)) is not None:
        return SideClass("front", by_title, upside_down, 1.0, evidence=["emblem", "rules", f"{by_title} title"])
    document_type = _cmnd_by_number(upright, engine)
    if document_type == "cmnd":
        return None
    return SideClass("front", document_type, upside_down, 1.0, evidence=["emblem", "rules", f"{document_type} number"])


# The CMND 1999 prints its red title along its top edge; the CMND 2012 prints the national motto there, in black,
# and its red title below it. Measured at 300 dpi on the 213 CMND fronts whose emblem was seen in four generated
# sets: 5,570-8,015 red px and no black in this box on every 1999 card, no red and 570-6,043 black px on every 2012
# card. The number's digits (a line read, 5-10 ms) decide where the colours do not.
TITLE_BOX = (280, 15, 1000, 80)  # x0, y0, x1, y1 on the upright front
TITLE_RED = 2000
TITLE_BLACK = 300


def _cmnd_by_title(card: np.ndarray, *, upside_down: bool) -> str | None:
    """The generation of a CMND front (its way up known) by the colour of its top line, or None where unclear."""
    hsv = cv2.cvtColor(_box_of(card, TITLE_BOX, upside_down=upside_down), cv2.COLOR_BGR2HSV)
    red, _ = _emblem_counts(hsv)
    black = int(np.count_nonzero((hsv[..., 2] < 90) & (hsv[..., 1] < 90)))
    if red >= TITLE_RED and black < TITLE_BLACK // 2:
        return "cmnd9"
    if black >= TITLE_BLACK and red < TITLE_RED // 10:
        return "cmnd12"
    return None


# The barcode CCCD prints its number in red under its red title; the chip CCCD and the 2024 card in black (the CMND
# in red too, but its dotted rules name it first). Red px in this box, measured at 300 dpi on the same 285 fronts:
# 2,560-3,780 on every barcode CCCD, none on the chip CCCD or the 2024 card, at most 1,650 on the CMND 2012.
# Its words named it only by the title, after 5.4 lines read (75 ms).
RED_NUMBER_BOX = (330, 180, 700, 216)  # x0, y0, x1, y1 on the upright front
RED_NUMBER = 2100


def _red_number(card: np.ndarray, *, upside_down: bool) -> bool:
    """Whether a front (its way up known from the emblem) shows the barcode CCCD's red number under its title."""
    red, _ = _box_colours(card, RED_NUMBER_BOX, upside_down=upside_down)
    return red >= RED_NUMBER


# The police seal, red without yellow, stamped over the signature in the bottom half of the backs that need
# reading (measured on CMND backs: 450-3,400 red px in the bottom half, none in the top). Its words must confirm it.
SEAL_RED = 400
SEAL_WORDS = 10.0  # the weight (see _weight) of the lines read one way; read the wrong way up, lines weigh little


def _seal_half(card: np.ndarray) -> bool | None:
    """Where a back's seal is: False in the bottom half (upright), True in the top (upside down), None unseen."""
    middle = card.shape[0] // 2
    top, bottom = (
        _emblem_counts(cv2.cvtColor(np.ascontiguousarray(half), cv2.COLOR_BGR2HSV))[0]
        for half in (card[:middle], card[middle:])
    )
    if bottom >= SEAL_RED and top < 0.1 * bottom:
        return False
    if top >= SEAL_RED and bottom < 0.1 * top:
        return True
    return None


# The CMND's back (and the barcode CCCD's) prints two fingerprint boxes on its left: 3-5 long thin vertical rules in
# the left half, at most one on any other side or in the other half (measured at 300 dpi on the 200 sides of a
# generated set of 100 cards). Naming the CMND back by them saves the 2-3 lines its words took (30 ms a side).
FRAME_HEIGHT = 0.4  # of the card's height: a rule at least this long
FRAME_RULES = 3
# The top-right corner of an upright back (x0, y0, x1, y1), and the share of it that is ink where the barcode CCCD's QR
# is printed: 0.20-0.28 on its backs, 0.04-0.13 on the CMND's (measured on 156 backs of three generated sets).
QR_CORNER_BOX = (790, 10, 1000, 210)
QR_CORNER_INK = 0.17


def _fingerprint_frames(gray: np.ndarray) -> bool | None:
    """Where the fingerprint boxes are: False on the left (upright back), True on the right (upside down), None."""
    height, width = gray.shape
    binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 18)
    tall = int(FRAME_HEIGHT * height)
    # An opening by a one-pixel-wide upright line treats each column alone, and keeps only runs of ink at least half
    # the line long (its erosion counts the image's edge as ink: a run along it needs half). Such a run fills one of
    # its column's blocks of a quarter of the line, counted from the top: only the few columns with an all-ink block
    # (11 of a side's 1011 on average) are opened, laid as rows (OpenCV filters a short wide image along its rows
    # far faster than a tall narrow one down its columns), then put back in place. The same rules, for under a tenth
    # of the cost. Labelling costs by the pixel, background included: only the box around the rules is labelled.
    block = max(1, tall // 4)
    blocks = binary[: height // block * block].reshape(height // block, block, width)
    columns = np.flatnonzero(blocks.min(axis=1).max(axis=0))
    rules = np.zeros_like(binary)
    if len(columns):
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (tall, 1))
        rules[:, columns] = cv2.morphologyEx(binary.T[columns], cv2.MORPH_OPEN, kernel).T
    x0, y0, w0, h0 = cv2.boundingRect(rules)
    stats = _component_stats(rules[y0 : y0 + h0, x0 : x0 + w0]) if w0 else np.zeros((0, 5), np.int32)
    thin = stats[(stats[:, 3] >= tall) & (stats[:, 2] <= 12)]
    centres = x0 + thin[:, 0] + thin[:, 2] / 2
    left, right = int(np.count_nonzero(centres < width / 2)), int(np.count_nonzero(centres >= width / 2))
    if left >= FRAME_RULES and right <= 1:
        turned = False
    elif right >= FRAME_RULES and left <= 1:
        turned = True
    else:
        return None
    # The barcode CCCD's back has the same boxes, and its QR in the top-right corner; smudged past being located,
    # the code still darkens its corner as no CMND's words do.
    corner = _box_of(binary, QR_CORNER_BOX, upside_down=turned)
    return turned if np.count_nonzero(corner) < QR_CORNER_INK * corner.size else None


def _weights(lines: list[TextLine]) -> float:
    return sum(_weight(line) for line in lines)


def _front_by_emblem(
    gray: np.ndarray, boxes: list[tuple[int, int, int, int]], codes: _Codes, engine: OcrEngine, *, upside_down: bool
) -> SideClass:
    """A front whose emblem says which way up it is: its lines are read that way only, until they name it."""
    return _named(gray, boxes, [], codes, engine, upside_down, 1.0, side="front", evidence=("emblem",))


def _cmnd_by_number(gray: np.ndarray, engine: OcrEngine) -> str:
    """A CMND front whose labels did not say which generation it is: its number has 9 digits or 12.

    One digit line where each generation prints it, read once (no second looks: the wrong generation's place
    holds no such number); the words on such a front are often too few or misread (a 2012 card named by its
    title alone was read with the 1999 card's layout, every field lost).
    """
    for generation, digits in (("cmnd12", 12), ("cmnd9", 9)):
        region = next(r for r in LAYOUTS[generation] if r.name == "id_number")
        lines = value_lines(gray, region)
        if not lines:
            continue
        line = max(lines, key=lambda candidate: candidate.height * candidate.box[2])
        # Half resolution: only the count of digits matters here, and it costs 40 % less. (The values themselves
        # are read at full resolution: at half, 1 and 9 were confused in two dates out of 600 cards.)
        crop = line_crop(gray, line)
        small = cv2.resize(crop, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
        text = engine.read_line(small, lang="eng", whitelist=DIGITS).text
        # The label "Số" may be read as a digit or two in front of the number.
        if re.fullmatch(rf"\d{{0,2}}\d{{{digits}}}", re.sub(r"\s", "", text)):
            return generation
    return "cmnd"


# Keywords (folded: upper case, no diacritics) and what each says. Several are read wrong now and then, so the
# decision adds up the votes of every line rather than trusting one.
_KEYWORDS: tuple[tuple[str, str, str], ...] = (
    # pattern, side, what it tells of the generation
    (r"CONG HOA|CHU NGHIA|SOCIALIST|DOC LAP|HANH PHUC|INDEPENDENCE", "front", ""),
    (r"CHUNG MINH", "front", "cmnd"),
    (r"SINH NGAY|NGUYEN QUAN|DKHK", "front", "cmnd9"),  # the 1999 card's own labels
    (r"GIOI TINH|QUE QUAN|NAM SINH", "front", "cmnd12"),  # labels the 1999 card lacks
    (r"CAN CUOC CONG DAN|CITIZEN IDENTITY", "front", "cccd"),
    (r"IDENTITY CARD|DINH DANH|CHU DEM|^\W*CAN CUOC\W*$", "front", "cancuoc2024"),
    (r"\.{6,}|…", "", "cmnd"),  # values written on dotted lines: the CMND, either side
    # Bilingual labels: the English is small and italic and often misread, but the slash after a label is not.
    (
        r"FULL ?NAME|DATE O|NATION|PLACE O|RESIDEN|ORIGIN|EXPIR|(SINH|TICH|QUAN|TRU|TEN|TINH|DEN) ?/",
        "front",
        "bilingual",
    ),
    (r"HO VA TEN|HO TEN|NGAY.{0,6}SINH|QUOC TICH", "front", ""),
    (r"QUE QUAN|THUONG TRU|GIA TRI DEN|EXPIRY", "front", "origin"),  # fronts that print origin or expiry
    (r"DAN TOC", "", "ethnicity"),  # the CMND's: on the 2012 card's front, the 1999 card's back
    (r"TON GIAO|DAU VET|DI HINH|GIAM DOC", "back", "cmnd"),
    (r"NGAY \d+ THANG \d+ NAM", "back", "cmnd"),
    (r"DAC DIEM|NHAN DANG|NOT RUOI|SEO ", "back", ""),
    (r"CUC TRUONG|CANH SAT", "back", "cccd"),
    (r"PERSONAL IDENTIF|DATE, MONTH|INDEX FINGER|LEFT INDEX|RIGHT INDEX|NAM ?/", "back", "bilingual"),
    (r"IDVNM|<<<", "back", "mrz"),
    (
        r"NOI CU TRU|DANG KY KHAI|KHAI SINH|PLACE OF RES|BO CONG AN|MINISTRY|NAM CAP|HET HAN|DATE OF (ISSUE|EXP)",
        "back",
        "cancuoc2024",
    ),
    (r"NGON TRO|INDEX FINGER", "back", "fingers"),
)


def _says(lines: list[TextLine], family: str) -> bool:
    """Whether a keyword of this family was read on one of the lines."""
    patterns = [pattern for pattern, _, named in _KEYWORDS if named == family]
    return any(re.search(pattern, fold(line.text)) for line in lines for pattern in patterns)


def _decide(lines: list[TextLine], codes: _Codes, known_side: str | None = None) -> tuple[str, str, list[str]]:
    """Side (unless known) and generation by the keywords of the lines read; "unknown" while nothing says."""
    votes = {"front": 0.0, "back": 0.0}
    families: set[str] = set()
    evidence = []
    numbers: set[int] = set()
    for line in lines:
        folded = fold(line.text)
        weight = 0.5 + line.confidence
        for pattern, side, family in _KEYWORDS:
            found = re.search(pattern, folded)
            if found:
                if side:
                    votes[side] += weight
                if family:
                    families.add(family)
                evidence.append(found.group(0))
        numbers |= {len(run) for run in re.findall(r"(?<!\d)(\d{9}|\d{12})(?!\d)", folded)}
    if 9 in numbers:
        families.add("cmnd9")
    if 12 in numbers:
        families.add("cmnd12")
    if codes.qr:
        evidence.append("QR" if codes.qr_text else "QR seen")
    if "mrz" in families:
        evidence.append("MRZ")
    if known_side is not None:
        return known_side, _generation(known_side, families, numbers, codes), evidence
    if votes["front"] == votes["back"] == 0:
        return "unknown", "unknown", evidence
    side = "front" if votes["front"] >= votes["back"] else "back"
    return side, _generation(side, families, numbers, codes), evidence


def _generation(side: str, families: set[str], numbers: set[int], codes: _Codes) -> str:
    """The card's generation from what one side shows (vn-id-cards.md's table of generations)."""
    if "cancuoc2024" in families:
        return "cancuoc2024"
    if side == "front":
        cccd = bool(families & {"cccd", "bilingual"}) or codes.qr
        if "cmnd" in families or ("cmnd9" in families and not cccd) or ("ethnicity" in families and not cccd):
            if families & {"cmnd12", "ethnicity"}:
                return "cmnd12"
            return "cmnd9" if "cmnd9" in families else "cmnd"
        if "bilingual" in families and not codes.qr and not families & {"origin", "cccd"}:
            return "cancuoc2024"  # bilingual, no QR, origin and expiry moved to the back
        if codes.qr or "bilingual" in families:
            return "cccd_chip"  # the chip card's QR is on its front (even smudged, it is seen), labels bilingual
        return "cccd_barcode" if "cccd" in families else "unknown"
    if "mrz" in families:
        # A QR that only "looks found" can be a fingerprint's ridges, or the 2024 card's smudged code: then the
        # words decide (the chip card's back has fingerprints and its police department; the 2024 card's neither).
        if codes.qr_text:
            return "cancuoc2024"
        if not codes.qr or families & {"fingers", "cccd", "bilingual"}:
            return "cccd_chip"
        return "unknown"
    if codes.qr_text:
        return "cccd_barcode"  # its 2-D code is on the back, and it has no MRZ
    if "bilingual" in families:
        return "cccd_chip"
    if "cmnd" in families:
        return "cmnd"
    if codes.qr:
        return "cccd_barcode"
    return "cccd_barcode" if "cccd" in families else "unknown"
