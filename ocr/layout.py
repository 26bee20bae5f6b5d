"""Where each generation prints each field, on the upright card at 300 dpi (1011 x 638 px).

Regions are generous (a few millimetres around the printed value, labels included): the value is picked out
inside them by its type size, since every card prints its labels smaller than its values. Positions follow the
published card designs (vn-id-cards.md: emblem and portrait on the left, labels and values on the right).
"""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


@dataclass(frozen=True)
class FieldRegion:
    name: str
    side: str  # front | back
    box: Box
    kind: str  # number | date | written_date | name | text | sex
    lines: int = 1  # how many printed lines the value may take
    # The value's stacked marks may rise above the region (into the small label printed just over it): its
    # crop reaches up, and the label's glyphs are whited out of it.
    reach_above: bool = False
    # A coloured seal (red) or signature (blue) is stamped over the value's end: the value is read from the brightest
    # of the colour channels, where coloured ink fades to paper and black print stays black. (In plain grey the
    # 2024 card's seal ran into the expiry's last digit: the date never read, and the MRZ had to be.)
    under_seal: bool = False
    # A short value printed after its label on the same line ("Quốc tịch / Nationality: Việt Nam"): its last
    # `tail_words` words are read alone first (a third of the line's cost), and taken where their reading, folded
    # (upper case, no marks), matches `tail_expect`; anything else reads the whole line as before.
    tail_words: int = 0
    tail_expect: str = ""
    # Card x where the label printed before the value on the value's first line ends ("Nguyên quán", "Nơi thường
    # trú:"); 0 where the value has its line to itself. Labels sit where the card's design puts them, so the first
    # gap between words at this x is where the value starts: the line is read from there (see `ocr.fields`).
    label_end: int = 0


def _f(name: str, box: Box, kind: str, lines: int = 1, label_end: int = 0) -> FieldRegion:
    return FieldRegion(name, "front", box, kind, lines, label_end=label_end)


def _b(name: str, box: Box, kind: str, lines: int = 1) -> FieldRegion:
    return FieldRegion(name, "back", box, kind, lines)


def _nationality(box: Box) -> FieldRegion:
    # Every card is a Vietnamese citizen's: the value is all but always "Việt Nam" (what `ocr.read.merge` settles).
    return FieldRegion("nationality", "front", box, "text", tail_words=2, tail_expect=r"^VIET ?NAM$")


LAYOUTS: dict[str, tuple[FieldRegion, ...]] = {
    "cmnd9": (
        _f("id_number", (430, 84, 1000, 162), "number"),
        _f("full_name", (280, 156, 1000, 224), "name"),
        _f("date_of_birth", (280, 266, 1000, 328), "date"),
        _f("place_of_origin", (280, 320, 1000, 432), "text", 2, label_end=465),
        _f("place_of_residence", (280, 424, 1000, 536), "text", 2, label_end=576),
        _b("date_of_issue", (470, 236, 1000, 296), "written_date"),
    ),
    "cmnd12": (
        _f("id_number", (420, 136, 1000, 206), "number"),
        _f("full_name", (280, 202, 1000, 262), "name"),
        _f("date_of_birth", (280, 254, 1000, 314), "date"),
        _f("sex", (280, 302, 610, 362), "sex"),
        _f("place_of_origin", (280, 352, 1000, 458), "text", 2, label_end=423),
        _f("place_of_residence", (280, 448, 1000, 554), "text", 2, label_end=494),
        _f("date_of_expiry", (30, 534, 278, 584), "date"),
        _b("date_of_issue", (470, 190, 1000, 252), "written_date"),
    ),
    "cccd_barcode": (
        _f("id_number", (280, 148, 1000, 216), "number"),
        FieldRegion("full_name", "front", (276, 254, 1000, 308), "name", reach_above=True),
        _f("date_of_birth", (280, 300, 1000, 354), "date"),
        _f("sex", (280, 346, 605, 400), "sex"),
        _nationality((605, 346, 1000, 400)),
        _f("place_of_origin", (280, 392, 1000, 487), "text", 2, label_end=409),
        _f("place_of_residence", (280, 480, 1000, 575), "text", 2, label_end=469),
        _f("date_of_expiry", (30, 524, 278, 570), "date"),
        _b("date_of_issue", (460, 314, 1000, 368), "date"),
    ),
    "cccd_chip": (
        _f("id_number", (280, 206, 1000, 270), "number"),
        FieldRegion("full_name", "front", (280, 306, 1000, 356), "name", reach_above=True),
        _f("date_of_birth", (280, 350, 1000, 402), "date"),
        _f("sex", (280, 394, 595, 444), "sex"),
        _nationality((595, 394, 1000, 444)),
        _f("place_of_origin", (280, 476, 1000, 522), "text"),
        _f("place_of_residence", (280, 514, 1000, 606), "text", 2, label_end=657),
        _f("date_of_expiry", (30, 556, 278, 604), "date"),
        _b("date_of_issue", (36, 272, 610, 324), "date"),
    ),
    "cancuoc2024": (
        _f("id_number", (280, 262, 1000, 318), "number"),
        _f("full_name", (280, 358, 1000, 412), "name"),
        _f("date_of_birth", (280, 410, 1000, 462), "date"),
        _f("sex", (280, 456, 595, 508), "sex"),
        _nationality((595, 456, 1000, 508)),
        _b("place_of_residence", (32, 64, 790, 152), "text", 2),
        _b("place_of_origin", (32, 188, 790, 276), "text", 2),
        _b("date_of_issue", (36, 276, 790, 326), "date"),
        FieldRegion("date_of_expiry", "back", (36, 320, 790, 370), "date", under_seal=True),
    ),
}
