"""Pairing the sides of each card across a folder of scans: by file names, by the number each side shows, by order."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import cv2

from intake.cards import CardImage
from ocr.engine import OcrEngine, get_engine
from ocr.mrz import read_mrz_numbers
from ocr.qr import QrPayloadError, find_qr, parse_qr_payload
from ocr.read import read_printed_field
from ocr.reading import SURE, FieldReading

# ---------------------------------------------------------------------------------------------------------
# Names

# How the two sides of one card are told apart by name, strongest first: a stem with a side's name after it, a
# stem with 1 and 2, a stem with a and b. The tag follows a separator, so that "feedback" is no back.
_SEP = r"[ _.\-]+"
_SIDE_TAG = re.compile(
    rf"^(?P<stem>.+?){_SEP}(?P<tag>mat{_SEP}?truoc|mat{_SEP}?sau|mattruoc|matsau|front|back|truoc|sau|mt|ms)$"
)
_FRONT_TAGS = ("truoc", "front", "mt")
_ONE_TWO = re.compile(rf"^(?P<stem>.+?)(?:{_SEP}(?P<n>[12])|[ _.\-]*\((?P<p>[12])\))$")
# "0012a"/"0012b" (a stem ending in a digit) or "hoso_a"/"hoso_b" (a separator): never "data"/"lab".
_A_B = re.compile(rf"^(?P<stem>.*?(?:\d|{_SEP}))(?P<tag>[ab])$")
# Consecutive numbers: "scan_0041"/"scan_0042", "IMG 7"/"IMG 8"; the prefix and what follows must agree.
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<n>\d+)(?P<suffix>\D*)$")

NAME_RULES = ("front/back", "1/2", "a/b")


def fold_name(name: str) -> str:
    """A file stem as names are compared: lower case, without diacritics (đ as d), outer spaces trimmed."""
    decomposed = unicodedata.normalize("NFKD", name.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower().strip()


def _parts(name: str) -> tuple[str, str]:
    path = PurePosixPath(name)
    return str(path.parent), fold_name(path.stem)


def _tagged(rule: str, stem: str) -> tuple[str, str] | None:
    """(stem, tag) where `tag` is "1" for the first side of the rule's two and "2" for the second."""
    if rule == "front/back":
        found = _SIDE_TAG.match(stem)
        if not found:
            return None
        tag = re.sub(_SEP, "", found.group("tag"))
        first = tag in _FRONT_TAGS or tag == "mattruoc"
        return found.group("stem"), "1" if first else "2"
    if rule == "1/2":
        found = _ONE_TWO.match(stem)
        if not found:
            return None
        return found.group("stem"), found.group("n") or found.group("p")
    found = _A_B.match(stem)
    if not found:
        return None
    return re.sub(rf"{_SEP}$", "", found.group("stem")), "1" if found.group("tag") == "a" else "2"


def pair_by_name(names: Sequence[str]) -> tuple[list[tuple[int, int, str]], list[int]]:
    """Files whose names pair, as (first, second, rule) indexes into `names` (relative paths); the rest.

    Rules are tried in NAME_RULES order on the files still alone. Only a stem with exactly one file for each of its
    two tags, in one folder, makes a pair: "x_front.jpg", "x_front.pdf" and "x_back.jpg" are left for the content.
    """
    alone = set(range(len(names)))
    pairs: list[tuple[int, int, str]] = []
    for rule in NAME_RULES:
        groups: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for index in sorted(alone):
            folder, stem = _parts(names[index])
            tagged = _tagged(rule, stem)
            if tagged:
                groups[(folder, tagged[0])][tagged[1]].append(index)
        for tags in groups.values():
            if set(tags) == {"1", "2"} and len(tags["1"]) == len(tags["2"]) == 1:
                first, second = tags["1"][0], tags["2"][0]
                pairs.append((first, second, rule))
                alone -= {first, second}
    pairs.sort()
    return pairs, sorted(alone)


# ---------------------------------------------------------------------------------------------------------
# Numbers a side shows


@dataclass(frozen=True)
class SideNumber:
    """An ID number a card side shows: printed (front), in its QR code or in its MRZ (back)."""

    value: str  # 9 or 12 digits; for "mrz9" the 9-digit document number, the last nine of the ID number
    source: str  # print | qr | mrz | mrz9
    sure: bool
    # For "print": the field as read, handed to the card's reading once the sides are paired (not read twice).
    reading: FieldReading | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        # Unrounded, with what the engine returned: the card's reading takes it as if it had read it itself.
        found = self.reading
        reading = None if found is None else {**found.to_json(), "confidence": found.confidence, "raw": found.raw}
        return {"value": self.value, "source": self.source, "sure": self.sure, "reading": reading}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SideNumber:
        reading = data.get("reading")
        return cls(data["value"], data["source"], data["sure"], FieldReading.from_json(reading) if reading else None)


def read_side_numbers(card: CardImage, engine: OcrEngine | None = None) -> list[SideNumber]:
    """The ID numbers one side shows, for telling which back goes with which front; [] when it shows none.

    Cheaper than reading the side: the QR (a few ms); where no QR decodes, the MRZ's first line, which holds the
    numbers (about 20 ms where there is one, 3 ms where not), and, on a front, the one printed field. The card's full
    reading comes once its sides are paired.
    """
    engine = engine or get_engine()
    gray = cv2.cvtColor(card.image, cv2.COLOR_BGR2GRAY) if card.image.ndim == 3 else card.image
    numbers: list[SideNumber] = []
    for code in find_qr(gray):
        if code.text is None:
            continue
        try:
            numbers.append(SideNumber(parse_qr_payload(code.text).id_number, "qr", True))
        except QrPayloadError:
            continue
    # A decoded QR's number is exact (its own error correction): the MRZ and the print would say it again, at 20 ms
    # and 8 ms.
    if card.side != "front" and not numbers:
        data = read_mrz_numbers(gray, engine)
        if data is not None and data.checks.get("id_number") and re.fullmatch(r"\d{12}", data.id_number):
            numbers.append(SideNumber(data.id_number, "mrz", True))
        elif data is not None and data.checks.get("document_number") and re.fullmatch(r"\d{9}", data.document_number):
            numbers.append(SideNumber(data.document_number, "mrz9", True))
    if card.side != "back" and not numbers:
        printed = read_printed_field(gray, card.document_type, "id_number", engine)
        if printed is not None and printed.value is not None:
            numbers.append(SideNumber(printed.value, "print", printed.confidence >= SURE, printed))
    return numbers


def _distance(a: SideNumber, b: SideNumber) -> int:
    """Digits that differ between two numbers of one card; a large number when they cannot be the same."""
    x, y = a.value, b.value
    if "mrz9" in (a.source, b.source) and len(x) != len(y):
        x, y = x[-9:], y[-9:]
    if len(x) != len(y):
        return 99
    return sum(1 for p, q in zip(x, y, strict=True) if p != q)


def numbers_agree(a: Sequence[SideNumber], b: Sequence[SideNumber]) -> bool | None:
    """True: the two sides show the same number. False: they cannot be one card. None: nothing to tell by.

    A printed number Tesseract was unsure of may be one digit off; two sure numbers must be equal.
    """
    if not a or not b:
        return None
    best: bool | None = False
    for x in a:
        for y in b:
            distance = _distance(x, y)
            if distance == 0:
                return True
            if distance == 1 and not (x.sure and y.sure):
                best = None  # close enough not to forbid the pair, not enough to make it
    return best


# ---------------------------------------------------------------------------------------------------------
# Pairing loose sides across files


@dataclass
class LooseSide:
    """A card side that its own file did not pair: where it is, what it is, the numbers it shows."""

    name: str  # the file, relative to the scanned folder (posix)
    order: int  # the file's position in the folder's sorted listing (of every scan, done or not)
    page: int
    card: int
    side: str  # front | back | unknown
    document_type: str
    numbers: list[SideNumber] = field(default_factory=list)

    @property
    def folder(self) -> str:
        return str(PurePosixPath(self.name).parent)

    @property
    def position(self) -> tuple[int, int, int]:
        return (self.order, self.page, self.card)


def _family(document_type: str) -> str:
    return "cmnd" if document_type.startswith("cmnd") else document_type


def _fits(a: LooseSide, b: LooseSide) -> bool:
    """One front and one back (or one side the classifier could not name) of the same generation's family."""
    sides = {a.side, b.side}
    if not (sides == {"front", "back"} or ("unknown" in sides and len(sides) == 2)):
        return False
    types = {_family(a.document_type), _family(b.document_type)}
    return "unknown" in types or len(types) == 1


def _may_pair(a: LooseSide, b: LooseSide) -> bool:
    return a.name != b.name and _fits(a, b) and numbers_agree(a.numbers, b.numbers) is not False


PAIRINGS = ("number", "consecutive names", "order")


def pair_loose_sides(sides: Sequence[LooseSide]) -> tuple[list[tuple[int, int, str]], list[int]]:
    """Pairs of loose sides as (index, index, how), front first where known, and the sides left alone.

    1. The same ID number on both (the front's print or QR, the back's MRZ or QR): proof, across folders.
    2. Files of one folder with consecutive numbers in otherwise equal names ("scan_0041", "scan_0042").
    3. Files next to each other in the folder's sorted listing.
    Rules 2 and 3 pair a front with a back of the same generation whose numbers, where both show one, agree.
    """
    order = sorted(range(len(sides)), key=lambda i: sides[i].position)
    free = set(order)
    pairs: list[tuple[int, int, str]] = []

    def take(i: int, j: int, how: str) -> None:
        free.difference_update((i, j))
        first, second = (j, i) if sides[i].side == "back" or sides[j].side == "front" else (i, j)
        pairs.append((first, second, how))

    # 1. Numbers: equal first; then a printed number one digit off, where exactly one side is that close.
    by_number: dict[str, list[int]] = defaultdict(list)
    for i in order:
        for number in sides[i].numbers:
            by_number[number.value[-9:]].append(i)  # by the last nine: an MRZ's document number is only those

    def matching(i: int, close: bool) -> list[int]:
        keys = {number.value[-9:] for number in sides[i].numbers if not close or not number.sure}
        if close:
            keys = {k[:at] + digit + k[at + 1 :] for k in keys for at in range(len(k)) for digit in "0123456789"}
        found = {j for key in keys for j in by_number.get(key, ())}
        verdict = None if close else True
        return [
            j
            for j in sorted(found)
            if j in free
            and sides[j].name != sides[i].name
            and _fits(sides[i], sides[j])
            and numbers_agree(sides[i].numbers, sides[j].numbers) is verdict
            and (not close or _near(sides[i].numbers, sides[j].numbers))
        ]

    for close in (False, True):
        for i in order:
            if i not in free:
                continue
            candidates = matching(i, close)
            if candidates and not close:
                take(i, min(candidates, key=lambda j: (abs(sides[j].order - sides[i].order), j)), "number")
            elif len(candidates) == 1:
                take(i, candidates[0], "number")

    # 2. Consecutive numbers in names of one folder.
    numbered: dict[tuple[str, str, str], dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i in order:
        stem = fold_name(PurePosixPath(sides[i].name).stem)
        found = _NUMBERED.match(stem)
        if found:
            key = (sides[i].folder, found.group("prefix"), found.group("suffix"))
            numbered[key][int(found.group("n"))].append(i)
    for files in numbered.values():
        for n in sorted(files):
            here, after = files[n], files.get(n + 1, [])
            # One loose side per file on both: a file that still holds two is no "one side per scan" series.
            if len(here) != 1 or len(after) != 1:
                continue
            i, j = here[0], after[0]
            if i in free and j in free and _may_pair(sides[i], sides[j]):
                take(i, j, "consecutive names")

    # 3. Order: files next to each other in the folder's listing (nothing between them, not even a file already
    # dealt with) and of one naming series ("IMG_20240601_090012.jpg", "IMG_20240601_090547.jpg": one device's
    # scans in the order made), each holding this one loose side. Sides only near each other, neighbours from two
    # devices, or a counter that skipped numbers (other scans came between) stay apart: on folders of mixed names
    # such neighbours were two citizens' about half the time (bench/batch.py).
    per_file = Counter(sides[i].order for i in order)
    by_order = {sides[i].order: i for i in order if per_file[sides[i].order] == 1}
    for i in order:
        following = by_order.get(sides[i].order + 1)
        if following is None or i not in free or following not in free or sides[i].order not in by_order:
            continue
        if _in_sequence(sides[i].name, sides[following].name) and _may_pair(sides[i], sides[following]):
            take(i, following, "order")
    pairs.sort(key=lambda pair: sides[pair[0]].position)
    return pairs, [i for i in order if i in free]


def _series(name: str) -> tuple[str, str]:
    """A file's naming series: its folder and its folded name with every run of digits as "#"."""
    path = PurePosixPath(name)
    return str(path.parent), re.sub(r"\d+", "#", fold_name(path.name))


def _in_sequence(a: str, b: str) -> bool:
    """Two names of one series whose numbers may be one scan after the other: a time ("IMG_20240601_090012"),
    or a counter ("scan_0041") that goes up by one."""
    if _series(a) != _series(b):
        return False
    x, y = (re.findall(r"\d+", fold_name(PurePosixPath(name).stem)) for name in (a, b))
    differing = [(p, q) for p, q in zip(x, y, strict=True) if p != q]
    if len(differing) != 1:
        return len(differing) > 1  # several runs differ: a date and a time
    p, q = differing[0]
    return len(p) >= 6 or abs(int(p) - int(q)) == 1  # six digits and more: a time of day, not a counter


def _near(a: Sequence[SideNumber], b: Sequence[SideNumber]) -> bool:
    return any(_distance(x, y) == 1 and not (x.sure and y.sure) for x in a for y in b)
