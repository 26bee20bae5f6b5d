"""One citizen's scans through the intake stages, in order: load, find, warp, orient, pair, merge."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from intake.cards import CardImage, find_cards, rotate_half_turn, warp_card
from intake.errors import NoCardFound
from intake.load import Limits, Page, load_pages
from intake.pdf import MAX_BUDGET_BYTES, PdfResult, merge_pdf
from ocr.classify import OcrEngine, classify_side
from ocr.read import Sides, read_card
from ocr.reading import CardReading


@dataclass
class CardSides:
    """The two sides of one card as found in the scans (either may be missing)."""

    front: CardImage | None = None
    back: CardImage | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def document_type(self) -> str:
        for side in (self.front, self.back):
            if side is not None and side.document_type not in ("unknown", "cmnd"):
                return side.document_type
        return "unknown"

    @property
    def images(self) -> list[CardImage]:
        return [side for side in (self.front, self.back) if side is not None]


def load_scans(sources: Iterable[Path | str | bytes], limits: Limits | None = None) -> list[Page]:
    """Every page of every file, in the order given."""
    pages: list[Page] = []
    for source in sources:
        pages += load_pages(source, limits=limits) if limits else load_pages(source)
    return pages


def straighten(page: Page, engine: OcrEngine | None = None) -> list[CardImage]:
    """Each card on a page, cut out, upright, and classified; NoCardFound when the page shows none."""
    outlines = find_cards(page.image, page.dpi)
    if not outlines:
        raise NoCardFound(page.source, page.index)
    return [
        settle_orientation(warp_card(page.image, outline.corners), outline.corners, page, engine)
        for outline in outlines
    ]


def settle_orientation(
    image: np.ndarray, corners: np.ndarray, page: Page, engine: OcrEngine | None = None
) -> CardImage:
    """Turn a warped card upright by what its text says, and note its side and generation."""
    verdict = classify_side(image, engine)
    if verdict.upside_down:
        image = cv2.rotate(image, cv2.ROTATE_180)
        corners = rotate_half_turn(corners)
    return CardImage(
        image=image,
        source=page.source,
        page=page.index,
        corners=corners,
        side=verdict.side,
        document_type=verdict.document_type,
        orientation_confidence=verdict.orientation_confidence,
        evidence=verdict.evidence,
    )


def _family(document_type: str) -> str:
    return "cmnd" if document_type.startswith("cmnd") else document_type


def _compatible(a: CardImage, b: CardImage) -> bool:
    return "unknown" in (a.document_type, b.document_type) or _family(a.document_type) == _family(b.document_type)


def pair_sides(cards: Sequence[CardImage]) -> list[CardSides]:
    """Fronts matched with backs of the same generation, nearest in scanning order first.

    A side the classifier could not name takes the role its partner leaves open; a CMND back takes the exact
    generation of its front (the two CMND backs look alike). A front and a back left over, whatever generations
    they were given, are one card: the scans of one citizen hold one card, and one of the two was misnamed.
    """
    pending = list(range(len(cards)))
    pairs: list[CardSides] = []
    lone: list[CardImage] = []
    while pending:
        card = cards[pending.pop(0)]
        partner = next((i for i in pending if _complement(card, cards[i]) and _compatible(card, cards[i])), None)
        if partner is None:
            lone.append(card)
            continue
        pending.remove(partner)
        pairs.append(_pair(card, cards[partner]))
    while lone:
        card = lone.pop(0)
        mate = next((other for other in lone if _complement(card, other)), None)
        if mate is None:
            pairs.append(_lone(card))
            continue
        lone.remove(mate)
        pairs.append(_pair(card, mate))
    return pairs


def _complement(a: CardImage, b: CardImage) -> bool:
    sides = {a.side, b.side}
    return sides == {"front", "back"} or ("unknown" in sides and len(sides) == 2) or sides == {"unknown"}


# Evidence (see ocr.classify) read on a CMND front that only the 2012 card prints.
_CMND12_WORDS = {"NAM SINH", "QUE QUAN", "GIOI TINH", "DAN TOC"}


def _lone(card: CardImage) -> CardSides:
    sides = CardSides(front=card) if card.side != "back" else CardSides(back=card)
    sides.warnings.append(f"only one side found ({card.side}) in {card.source} page {card.page + 1}")
    return sides


def pair_as_one(first: CardImage, second: CardImage) -> CardSides:
    """Two sides known (from elsewhere: the files' names) to be one card, `first` the front unless they say else.

    The classifier's side is kept where the two are a front and a back; where it gave both the same side (or
    none), `first` becomes the front. Generations are settled as `pair_sides` settles them.
    """
    if {first.side, second.side} != {"front", "back"}:
        first.side, second.side = "front", "back"
    return _pair(first, second)


def _pair(a: CardImage, b: CardImage) -> CardSides:
    if a.side == "back" or b.side == "front":
        a, b = b, a
    a.side, b.side = "front", "back"
    if (
        a.document_type in ("unknown", "cmnd")
        and b.document_type in ("cmnd", "unknown")
        and "cmnd"
        in (
            a.document_type,
            b.document_type,
        )
    ):
        # A CMND whose front did not say which: the 2012 card's labels, else the 1999 card.
        a.document_type = "cmnd12" if _CMND12_WORDS & set(a.evidence) else "cmnd9"
    if a.document_type != b.document_type and not _compatible(a, b):
        # Misnamed on one side. A decoded QR names the generation by its issue date and outweighs words; an MRZ
        # only says "chip CCCD or Căn cước", so words naming one of those two outweigh it.
        def weight(card: CardImage, other: CardImage) -> int:
            if "QR" in card.evidence:
                return 2
            if "MRZ" in card.evidence:
                return 0 if other.document_type in ("cccd_chip", "cancuoc2024") else 2
            return 1

        trusted = b if weight(b, a) > weight(a, b) else a
        a.document_type = b.document_type = trusted.document_type
    if a.document_type != "unknown" and _family(b.document_type) in ("cmnd", "unknown"):
        b.document_type = a.document_type
    elif b.document_type != "unknown" and a.document_type == "unknown":
        a.document_type = b.document_type
    return CardSides(front=a, back=b)


def read_scans(
    sources: Iterable[Path | str | bytes], engine: OcrEngine | None = None, limits: Limits | None = None
) -> list[CardSides]:
    """The whole first half of the pipeline: files in, the sides of each card out, paired."""
    cards: list[CardImage] = []
    for page in load_scans(sources, limits):
        cards += straighten(page, engine)
    return pair_sides(cards)


def attachment(
    cards: Sequence[CardImage], budget_bytes: int | None = None, dpi: int = 300, quality: int = 70
) -> PdfResult:
    """The one-PDF attachment: the given sides (front first) at true size on an A4 page."""
    images = [card.image for card in cards]
    return merge_pdf(images, budget_bytes=budget_bytes or MAX_BUDGET_BYTES, dpi=dpi, quality=quality)


def read_sides(sides: CardSides, engine: OcrEngine | None = None, *, use_qr: bool = True) -> CardReading:
    """The card's reading: what its QR, MRZ and print say, merged and cross-checked."""
    front = sides.front.image if sides.front is not None else None
    back = sides.back.image if sides.back is not None else None
    # What pairing read of a side's print is the card's reading's too, if the side kept its role and generation.
    printed = {
        name: reading
        for card in sides.images
        if card.printed_as == sides.document_type
        for name, reading in card.printed.items()
        if reading.side == card.side
    }
    return read_card(Sides(front, back), sides.document_type, engine, use_qr=use_qr, printed=printed)
