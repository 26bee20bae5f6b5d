"""Reading the printed fields: picking each value out of its region by type size, then one OCR pass per line."""

from __future__ import annotations

import itertools
import re
import statistics
import unicodedata
from dataclasses import dataclass

import cv2
import numpy as np

from ocr.components import components
from ocr.engine import OcrEngine, OcrLine
from ocr.layout import FieldRegion
from ocr.mrz import strip_diacritics

DIGITS = "0123456789"
DATE_CHARS = "0123456789/-."
DOT_MARK_RATIO = 3.0  # a tone mark under a letter covers this many times a dotted rule's dot, or more...
MARK_SHARE = 0.025  # ...and at least this share of the square of the capitals' height (24 px² for 31 px capitals)


@dataclass
class ValueLine:
    box: tuple[int, int, int, int]  # x, y, w, h in the card image
    height: float  # the value's capital height, px
    cap_top: int = 0  # card y of the top of the value's capitals
    baseline: int = 0  # card y of the value's baseline
    # Where the CMND's dotted rule is kept in the box (for tone marks under the value), the least px² of such a mark:
    # smaller specks on the rule's row are whited out. 0: no rule in the box.
    rule_mark: float = 0.0


@dataclass
class RawField:
    """What OCR made of one field: its lines' texts and mean confidence, and the box they came from."""

    region: FieldRegion
    texts: list[str]
    confidence: float
    box: tuple[int, int, int, int] | None
    crops: list[np.ndarray]
    # The first line was read from where its value starts, its label left out of the image (`after_label`).
    label_cut: bool = False


def value_lines(gray: np.ndarray, region: FieldRegion) -> list[ValueLine]:
    """The printed value's lines inside a field's region, top to bottom; labels and dotted lines left out.

    Labels are printed smaller than values on every generation, so components shorter than most of the tallest
    ones are dropped; what is left is grouped into lines.
    """
    x0, y0, x1, y1 = region.box
    roi = gray[y0:y1, x0:x1]
    if roi.size == 0:
        return []
    binary = cv2.adaptiveThreshold(roi, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 41, 20)
    count, _, stats = components(binary)
    height, width = roi.shape
    # Every component as arrays (x, y, w, h): the selections below are vector operations, not loops over glyphs
    # (a region holds a few hundred components with its background's specks).
    every = stats[1:count, :4].astype(np.int64)
    area = stats[1:count, 4]
    kept = (every[:, 3] >= 8) & (every[:, 3] < 0.9 * height) & (every[:, 2] < 0.5 * width) & (area >= 12)
    comps = every[kept]
    if not len(comps):
        return []
    # Capitals with a mark merged on top (Ễ, Ả) stand taller than the value's plain capitals: the reference is a
    # middling height of the tall glyphs, not their tallest.
    reference = float(np.percentile(comps[:, 3].astype(np.float64), 70))
    tall = comps[comps[:, 3] >= 0.75 * reference]
    tall = tall[np.argsort(tall[:, 1] + tall[:, 3] / 2, kind="stable")]
    # Group by vertical centre: a new line starts where a centre is more than half a capital below the last
    # group's mean centre.
    groups: list[list[tuple[int, int, int, int]]] = []
    centre_sum = 0.0
    for x, y, w, h in tall.tolist():
        centre = y + h / 2
        if groups and abs(centre - centre_sum / len(groups[-1])) < 0.5 * reference:
            groups[-1].append((x, y, w, h))
            centre_sum += centre
        else:
            groups.append([(x, y, w, h)])
            centre_sum = centre
    comp_centres = comps[:, 1] + comps[:, 3] / 2
    every_centres = every[:, 1] + every[:, 3] / 2
    lines = []
    previous_bottom = -(10**6)
    for group in groups:
        if sum(c[2] for c in group) < reference:  # a stray mark, not a line of text
            continue
        left = min(c[0] for c in group)
        top = min(c[1] for c in group)
        bottom = max(c[1] + c[3] for c in group)
        cap = float(statistics.median(c[3] for c in group))
        # The value starts at its first capital-height glyph (labels to its left are smaller) but may end in
        # lower-case letters ("Việt Nam"): the right end is the last glyph of any size on the line.
        middle = (top + bottom) / 2
        on_line = comps[
            (comps[:, 0] >= left) & (comps[:, 3] >= 0.35 * cap) & (np.abs(comp_centres - middle) < 0.6 * (bottom - top))
        ]
        right = left
        for cx, cw in sorted(zip(on_line[:, 0].tolist(), on_line[:, 2].tolist(), strict=True)):
            if cx - right > 1.5 * cap:
                break  # a gap wider than a word space: another text block (an issuer's name, a stamp)
            right = max(right, cx + cw)
        # Vietnamese stacks marks above capitals (Ễ, Ẫ) and below (Ạ): widen the box to keep them, but not
        # up into the line above.
        ceiling, margin = (-y0, 0.8) if region.reach_above else (0, 0.5)
        top = max(ceiling, int(top - margin * cap), previous_bottom + 1)
        previous_bottom = bottom
        limit = bottom + 0.3 * cap
        # ...but not down onto the CMND's dotted line: a row of small marks just under the baseline, which
        # makes Tesseract return nothing at all for the line above it.
        baseline = float(statistics.median(c[1] + c[3] for c in group))
        dots = every[
            (every[:, 3] <= 0.3 * cap)
            & (every[:, 2] <= 0.4 * cap)
            & (every_centres >= baseline - 0.1 * cap)
            & (every_centres <= baseline + 0.6 * cap)
            & (every[:, 0] >= left)
            & (every[:, 0] <= right)
        ]
        rule_mark = 0.0
        if len(dots) >= 6:
            # Tone marks under the value's letters (Ọ, Ị) sit on the same row, but are larger than the rule's dots:
            # where there are some, the crop keeps the row and `line_crop` whites out the rest. (Cut above the
            # row, "TRỌNG" was read "TRONG".)
            sizes = dots[:, 2] * dots[:, 3]
            size = float(np.median(sizes))
            mark_area = max(DOT_MARK_RATIO * size, MARK_SHARE * cap * cap)
            marks = dots[sizes >= mark_area]
            if len(marks):
                rule_mark = mark_area
                limit = max(limit, float((marks[:, 1] + marks[:, 3]).max()) + 1.0)
            else:
                limit = min(limit, float(np.median(dots[:, 1])) - 1)
        bottom = min(height, int(max(limit, baseline + 1)))
        if bottom <= top:
            continue  # squeezed out under the line above: nothing of its own to read
        left, right = max(0, left - 6), min(width, right + 6)
        cap_top = int(statistics.median(c[1] for c in group))
        lines.append(
            ValueLine(
                box=(x0 + left, y0 + top, right - left, bottom - top),
                height=cap,
                cap_top=y0 + cap_top,
                baseline=y0 + int(baseline),
                rule_mark=rule_mark,
            )
        )
    return lines


def _crop(gray: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x, y, w, h = box
    return gray[y : y + h, x : x + w]


def line_crop(gray: np.ndarray, line: ValueLine) -> np.ndarray:
    """The value line cut out, with what reaches in from the lines above and below whited out.

    The box keeps room for the marks Vietnamese stacks over capitals, and so takes in the bottoms of a label
    printed just above; Tesseract then reads the label. Glyphs ending above the capitals' top that are too tall
    to be a tone mark, or cut by the box's edge, belong to another line.
    """
    crop = _crop(gray, line.box).copy()
    y = line.box[1]
    binary = cv2.adaptiveThreshold(crop, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 41, 20)
    count, labels, stats = components(binary)
    cap_top, baseline, cap = line.cap_top - y, line.baseline - y, line.height
    paper = int(np.percentile(crop, 90))
    # The value's own glyphs reach down into its body; a mark above one of them is the value's (a tone mark),
    # anything else up there is the line above's.
    body = [(cx, cx + cw) for cx, cy, cw, ch, _ in stats[1:count] if cy + ch > cap_top + 0.5 * cap and ch > 0.3 * cap]
    foreign_labels = np.zeros(count, dtype=bool)  # whited out in one pass over the pixels, not one per glyph
    for index, (cx, cy, cw, ch, _) in enumerate(stats[1:count].tolist(), start=1):
        if cy + ch < cap_top + 0.15 * cap:
            over_a_glyph = any(left < cx + cw and cx < right for left, right in body)
            foreign = ch > 0.45 * cap or not over_a_glyph
        else:
            foreign = cy > baseline + 0.35 * cap and (ch > 0.45 * cap or cy + ch >= crop.shape[0])
            # A dot of the rule under the value, not a tone mark (those are larger): Tesseract reads nothing of a
            # line standing on a dotted rule.
            foreign = foreign or (
                line.rule_mark > 0
                and cy + ch / 2 >= baseline - 0.1 * cap
                and ch <= 0.3 * cap
                and (cw * ch < line.rule_mark or cw > 0.4 * cap)  # a dot, or dots run together
            )
        foreign_labels[index] = foreign
    if foreign_labels.any():
        crop[foreign_labels[labels]] = paper
    return crop


_EXPECTED = {"number": re.compile(r"[0-9]{9}"), "date": re.compile(r"[0-9]{1,2}\D{1,3}[0-9]{1,2}\D{1,3}[0-9]{4}")}


def _variants(crop: np.ndarray) -> list[np.ndarray]:
    """Other looks at a line Tesseract could not read: binarised (a pattern or a dotted rule behind the print
    fades away), and without its lowest fifth (where the CMND's dotted rule runs)."""
    _, binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return [binary, crop[: max(8, int(crop.shape[0] * 0.8))]]


# A numeric date as every generation prints it, at the start of its word: two-digit day and month, four-digit year.
# What may follow it is no digit (the 2024 card's seal overlaps the end of its expiry and reads as "/.").
_WORD_DATE = re.compile(r"[0-9]{2}[/.-][0-9]{2}[/.-][0-9]{4}(?![0-9])")
# A word narrower than this many capitals is no date (DD/MM/YYYY is about six): a fragment of a seal.
DATE_WORD_CAPS = 3.0
# Glyphs further apart than this share of the capitals' height are separate words: the label's colon and the value
# (measured at 300 dpi: 15-20 px for 31 px capitals), not the digits and separators of one date (2-7 px).
WORD_GAP = 0.45


# Narrow words after the value skipped to find it: remnants of a seal or signature stamped over the line's end.
TRAILING_WORDS = 2


def _words(crop: np.ndarray, cap: float) -> list[tuple[int, int]]:
    """The left and right ends of the words of a line crop, left to right, by the gaps between their glyphs."""
    binary = cv2.adaptiveThreshold(crop, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 41, 20)
    count, _, stats = components(binary)
    # Glyphs, the flat separators of "01-06-1955" included; background specks are neither tall nor wide.
    glyphs = sorted(
        (int(x), int(x + w))
        for x, _, w, h, area in stats[1:count]
        if area >= 12 and (h >= 0.35 * cap or w >= 0.15 * cap)
    )
    # A glyph starting further right than the gap from every glyph before it starts a new word. (Each glyph
    # compared with its neighbour alone, the dot under "ạ" parted "hạn" between its letters.)
    words: list[tuple[int, int]] = []
    for x0, x1 in glyphs:
        if words and x0 - words[-1][1] <= WORD_GAP * cap:
            words[-1] = (words[-1][0], max(words[-1][1], x1))
        else:
            words.append((x0, x1))
    return words


def tail_words(crop: np.ndarray, cap: float, count: int) -> np.ndarray | None:
    """The last `count` words of a line crop (a short value after its label), or None where the line has no more."""
    words = _words(crop, cap)
    if len(words) <= count:
        return None
    margin = int(0.2 * cap)
    start, right_edge = words[-count][0], max(end for _, end in words[-count:])
    return crop[:, max(0, start - margin) : min(crop.shape[1], right_edge + margin)]


def value_word(crop: np.ndarray, cap: float) -> np.ndarray | None:
    """The last word of a line crop (the value printed after its label), or None where the line is that word alone.

    Tesseract's time grows with the length of the line it reads: the labels before a date ("Ngày, tháng, năm sinh /
    Date of birth:") are two thirds of the line. Up to `TRAILING_WORDS` words too narrow to be a date are passed
    over at the right end: what is left of a seal's ring after the print (a date, or "Không thời hạn", whose last
    word is narrow too but is read alone as well as in its line).
    """
    words = _words(crop, cap)
    for index in range(len(words) - 1, max(0, len(words) - 1 - TRAILING_WORDS) - 1, -1):
        start, right_edge = words[index]
        if index == 0:
            return None  # the line is the value alone (no label before it)
        if right_edge - start >= DATE_WORD_CAPS * cap:
            break
    else:
        return None
    margin = int(0.2 * cap)
    return crop[:, max(0, start - margin) : min(crop.shape[1], right_edge + margin)]


def after_label(crop: np.ndarray, line: ValueLine, label_end: int) -> np.ndarray | None:
    """The line from its value's first word on, where a gap between words lies at the label's end; else None.

    Tesseract's time follows the line's length, and the place lines' labels ("Nơi ĐKHK thường trú") take a
    quarter to two fifths of it. A gap is taken within half a capital of `label_end` (card x): the gaps after
    labels were 15-20 px on the generated cards, and a label's words stood within 3 px of the same x on every
    card of a generation. A line whose label runs into its value with no gap there is read whole, as before.
    """
    cap = line.height
    end = label_end - line.box[0]
    if end <= 0:
        return None
    words = _words(crop, cap)
    gaps = [
        (abs((before[1] + after[0]) / 2 - end), after[0])
        for before, after in itertools.pairwise(words)
        if before[1] <= end + 0.5 * cap and after[0] >= end - 0.5 * cap
    ]
    if not gaps:
        return None
    start = min(gaps)[1]
    return crop[:, max(0, start - int(0.2 * cap)) :]


def _read_value(crop: np.ndarray, kind: str, engine: OcrEngine, cap: float = 0.0) -> OcrLine:
    """One line with the settings its kind needs; numbers and dates that do not come out are read again."""
    if kind not in _EXPECTED:
        return engine.read_line(crop, lang="vie")
    if kind == "date" and cap > 0 and (word := value_word(crop, cap)) is not None:
        # The date alone, at a third of the line's cost. Only a whole date at the word's start is taken from it: a
        # word cut short (a digit lost to the cut) cannot pass for another date, as day and month keep two digits.
        result = engine.read_line(word, lang="eng", whitelist=DATE_CHARS)
        if _WORD_DATE.match(re.sub(r"\s", "", result.text)):
            return result
        # "Không thời hạn" (a card without expiry): no digits to read, in the word or in the whole line. Anything
        # else goes on to the whole line, as before.
        words = engine.read_line(word, lang="vie")
        if re.search(r"KH[OÔ]NG|TH[OƠỜ]I|H[AẠ]N\b", words.text.upper()):
            return words
    whitelist = DIGITS if kind == "number" else DATE_CHARS
    result = engine.read_line(crop, lang="eng", whitelist=whitelist)
    expected = _EXPECTED[kind]
    for variant in _variants(crop):
        if expected.search(result.text):
            break
        result = engine.read_line(variant, lang="eng", whitelist=whitelist)
    return result


def _read_tail(crop: np.ndarray, region: FieldRegion, engine: OcrEngine, cap: float) -> OcrLine | None:
    """The value's last words alone, where the region says what they read as (see `FieldRegion.tail_words`)."""
    if not region.tail_words or (tail := tail_words(crop, cap, region.tail_words)) is None:
        return None
    result = engine.read_line(tail, lang="vie")
    folded = strip_diacritics(unicodedata.normalize("NFC", result.text)).upper()
    return result if re.search(region.tail_expect, folded) else None


def read_region(gray: np.ndarray, region: FieldRegion, engine: OcrEngine) -> RawField:
    """OCR of one field's value lines with the settings its kind needs."""
    lines = value_lines(gray, region)
    if region.lines == 1 and len(lines) > 1:
        # The value is printed larger than labels and wider than a neighbour's edge reaching into the region.
        lines = [max(lines, key=lambda line: line.height * line.box[2])]
    lines = lines[: region.lines]
    if not lines:
        return RawField(region, [], 0.0, None, [])
    texts, confidences, crops = [], [], []
    label_cut = False
    for index, line in enumerate(lines):
        crop = line_crop(gray, line)
        result: OcrLine | None = None
        if index == 0 and region.label_end and (value := after_label(crop, line, region.label_end)) is not None:
            alone = engine.read_line(value, lang="vie")
            # Now and then Tesseract finds no line at all in the value alone (a mark of the line above along its
            # top edge) that it reads within the whole line: then the whole line, label and all, as before.
            if alone.text:
                result, crop, label_cut = alone, value, True
        if result is None:
            cap = line.height
            result = _read_tail(crop, region, engine, cap) or _read_value(crop, region.kind, engine, cap)
        texts.append(result.text)
        confidences.append(result.confidence)
        crops.append(crop)
    xs = [line.box[0] for line in lines]
    ys = [line.box[1] for line in lines]
    x2 = [line.box[0] + line.box[2] for line in lines]
    y2 = [line.box[1] + line.box[3] for line in lines]
    box = (min(xs), min(ys), max(x2) - min(xs), max(y2) - min(ys))
    return RawField(region, texts, float(np.mean(confidences)), box, crops, label_cut)
