"""Sample cases: a holder, their card's sides scanned or photographed into files, and the ground truth."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import zxingcpp

from intake.synth.cards import QR_SIDE, WITH_MRZ, WITH_QR, RenderedCard, render_side
from intake.synth.formats import jpeg_bytes, pdf_bytes, png_bytes, tiff_bytes
from intake.synth.people import DOCUMENT_TYPES, Person, make_person
from intake.synth.scan import A4_MM, A5_MM, Degradation, Page, damage_qr, flatbed_page, photo_page

LAYOUTS = ("separate", "one_page", "pdf", "tiff", "photo", "exif", "png")
# Share of each layout in a random (benchmark) set.
LAYOUT_WEIGHTS: dict[str, float] = {
    "separate": 0.28,
    "one_page": 0.2,
    "pdf": 0.12,
    "tiff": 0.08,
    "photo": 0.14,
    "exif": 0.08,
    "png": 0.1,
}
QR_DAMAGE_SHARE = 0.12
TRUTH_FILE = "truth.json"

Rotation = str | float


@dataclass
class CasePlan:
    """What one case will be; unset knobs are drawn from the case's generator."""

    document_type: str
    layout: str
    dpi: int = 200
    rotations: tuple[Rotation, Rotation] = ("small", "small")
    qr_damaged: bool = False
    strength: float = 0.4
    arrangement: str = "stacked"  # one_page/png: "stacked" or "side_by_side"
    tiff_compression: str = "jpeg"
    tiff_grey: bool = False
    exif_orientations: tuple[int, int] = (6, 6)
    png_both_sides: bool = True
    photo_size: tuple[int, int] = (1600, 1200)


@dataclass
class BuiltFile:
    """One file of a case, its bytes and what its pages show."""

    name: str
    data: bytes
    pages: list[Page]


@dataclass
class BuiltCase:
    """A case as generated: the holder, the rendered sides and the files, and its truth entry."""

    truth: dict[str, object]
    person: Person
    sides: dict[str, RenderedCard]
    files: list[BuiltFile] = field(default_factory=list)


# The committed set: every generation about six times, every layout and degradation at least twice.
COMMITTED_PLANS: tuple[CasePlan, ...] = (
    CasePlan("cccd_chip", "separate", 300, ("small", "small"), strength=0.1),
    CasePlan("cancuoc2024", "separate", 200, ("small", 90.0), strength=0.4),
    CasePlan("cmnd9", "separate", 200, (270.0, "small"), strength=0.5),
    CasePlan("cmnd12", "separate", 200, ("arbitrary", "small"), strength=0.3),
    CasePlan("cccd_barcode", "separate", 200, ("small", "arbitrary"), strength=0.6),
    CasePlan("cccd_chip", "one_page", 200, ("small", "small"), strength=0.3),
    CasePlan("cancuoc2024", "one_page", 300, ("small", "small"), strength=0.2, arrangement="side_by_side"),
    CasePlan("cmnd9", "one_page", 200, ("small", 180.0), strength=0.7),
    CasePlan("cmnd12", "one_page", 200, (90.0, 270.0), strength=0.4),
    CasePlan("cccd_barcode", "one_page", 200, ("arbitrary", "arbitrary"), strength=0.5),
    CasePlan("cccd_chip", "pdf", 200, ("small", "small"), strength=0.3),
    CasePlan("cmnd12", "pdf", 300, (180.0, "small"), strength=0.5),
    CasePlan("cancuoc2024", "tiff", 200, ("small", "arbitrary"), strength=0.4, tiff_compression="jpeg"),
    CasePlan("cmnd9", "tiff", 200, ("small", "small"), strength=0.2, tiff_compression="deflate", tiff_grey=True),
    CasePlan("cccd_chip", "photo", rotations=("small", "small"), strength=0.3),
    CasePlan("cancuoc2024", "photo", rotations=("small", "small"), strength=0.6, photo_size=(2000, 1500)),
    CasePlan("cccd_barcode", "photo", rotations=(90.0, "small"), strength=0.4),
    CasePlan("cmnd9", "photo", rotations=("small", 180.0), strength=0.5, photo_size=(2000, 1500)),
    CasePlan("cccd_chip", "exif", 200, ("small", "small"), strength=0.3, exif_orientations=(6, 8)),
    CasePlan("cmnd12", "exif", 200, ("small", 90.0), strength=0.4, exif_orientations=(3, 6)),
    CasePlan("cccd_barcode", "png", 200, ("small", "small"), strength=0.2),
    CasePlan("cancuoc2024", "png", 200, ("arbitrary", "small"), strength=0.3, png_both_sides=False),
    CasePlan("cccd_chip", "separate", 200, ("small", "small"), qr_damaged=True, strength=0.5),
    CasePlan("cancuoc2024", "separate", 200, (180.0, "small"), qr_damaged=True, strength=0.4),
    CasePlan("cccd_barcode", "one_page", 200, ("small", "small"), qr_damaged=True, strength=0.6),
    CasePlan("cmnd9", "separate", 200, ("arbitrary", 90.0), strength=0.8),
    CasePlan("cmnd12", "separate", 200, ("small", "small"), strength=0.9),
    CasePlan("cmnd9", "one_page", 300, ("arbitrary", "small"), strength=0.6),
    CasePlan("cmnd12", "one_page", 200, ("small", "small"), strength=1.0, arrangement="side_by_side"),
    CasePlan("cccd_barcode", "separate", 300, (270.0, "arbitrary"), strength=0.3),
)


def _stratified(rng: np.random.Generator, weights: dict[str, float], count: int) -> list[str]:
    """Kinds in proportion to their weights (largest remainders), every kind at least once, shuffled."""
    names = list(weights)
    total = sum(weights.values())
    exact = [weights[name] / total * count for name in names]
    counts = [int(value) for value in exact]
    # Ties (e.g. equal weights, few cases) go to random kinds, not always to the first listed.
    tiebreak = rng.random(len(names))
    order = sorted(range(len(names)), key=lambda i: (exact[i] - counts[i], tiebreak[i]), reverse=True)
    for i in order[: count - sum(counts)]:
        counts[i] += 1
    if count >= len(names):
        for i in range(len(names)):
            while counts[i] == 0:
                donor = int(np.argmax(counts))
                counts[donor] -= 1
                counts[i] += 1
    kinds = [name for name, n in zip(names, counts, strict=True) for _ in range(n)]
    return [kinds[int(i)] for i in rng.permutation(len(kinds))]


def _random_rotation(rng: np.random.Generator) -> Rotation:
    roll = rng.random()
    if roll < 0.55:
        return "small"
    if roll < 0.8:
        return "right"
    return "arbitrary"


def random_plans(count: int, seed: int) -> list[CasePlan]:
    """A benchmark mix: generations evenly, layouts by LAYOUT_WEIGHTS, knobs drawn at random."""
    rng = np.random.default_rng([seed, 0x5EED])
    document_types = _stratified(rng, dict.fromkeys(DOCUMENT_TYPES, 1.0), count)
    layouts = _stratified(rng, LAYOUT_WEIGHTS, count)
    plans = []
    for document_type, layout in zip(document_types, layouts, strict=True):
        plans.append(
            CasePlan(
                document_type=document_type,
                layout=layout,
                dpi=int(rng.choice([200, 300])),
                rotations=(_random_rotation(rng), _random_rotation(rng)),
                qr_damaged=document_type in WITH_QR and bool(rng.random() < QR_DAMAGE_SHARE),
                strength=float(rng.uniform(0, 1)),
                arrangement="side_by_side" if rng.random() < 0.3 else "stacked",
                tiff_compression="deflate" if rng.random() < 0.4 else "jpeg",
                tiff_grey=bool(rng.random() < 0.5),
                exif_orientations=(int(rng.choice([3, 6, 8])), int(rng.choice([3, 6, 8]))),
                png_both_sides=bool(rng.random() < 0.5),
                photo_size=(1600, 1200) if rng.random() < 0.6 else (2000, 1500),
            )
        )
    return plans


class FileNamer:
    """Names as scanners and phones give them: they never say which side a file holds."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.counter = int(rng.integers(1, 400))
        self.clock = datetime(2024, 3, 12, 9, 31, 5) + timedelta(days=int(rng.integers(0, 700)))
        self.used: set[str] = set()

    def _tick(self) -> None:
        self.counter += int(self.rng.integers(1, 4))
        self.clock += timedelta(seconds=int(self.rng.integers(20, 4000)))

    def name(self, kind: str) -> str:
        while True:
            self._tick()
            n, t = self.counter, self.clock
            if kind == "photo":
                candidate = f"IMG_{t:%Y%m%d_%H%M%S}.jpg"
            else:
                extension = {"jpeg": "jpg", "pdf": "pdf", "tiff": "tif", "png": "png"}[kind]
                style = int(self.rng.integers(5))
                if kind == "jpeg" and style == 4:
                    extension = "jpeg"
                if kind == "tiff" and style >= 3:
                    extension = "tiff"
                candidate = (
                    f"scan_{n:04d}.{extension}",
                    f"doc{n + 400:05d}.{extension}",
                    f"Scan_{t:%Y%m%d_%H%M%S}.{extension}",
                    f"SCAN{n:04d}.{extension.upper() if kind == 'jpeg' else extension}",
                    f"img{n:04d}.{extension}",
                )[style]
            if candidate.lower() not in self.used:
                self.used.add(candidate.lower())
                return candidate


def _damage_until_unreadable(rendered: RenderedCard, rng: np.random.Generator) -> RenderedCard:
    """Damage the QR until zxing no longer reads it on the clean card (so 'damaged' means it)."""
    assert rendered.qr_box is not None
    image = rendered.image
    for attempt in range(6):
        image = damage_qr(image, rendered.qr_box, rng, severity=min(1.0, 0.3 + 0.25 * attempt))
        if not zxingcpp.read_barcodes(image):
            break
    return RenderedCard(image=image, qr_box=rendered.qr_box, mrz=rendered.mrz, qr_payload=rendered.qr_payload)


def _fields(person: Person) -> dict[str, str | None]:
    document_type = person.document_type

    def iso(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id_number": person.id_number,
        "full_name": person.full_name,
        "date_of_birth": iso(person.date_of_birth),
        "sex": None if document_type == "cmnd9" else person.sex,
        "nationality": person.nationality if document_type in ("cccd_barcode", "cccd_chip", "cancuoc2024") else None,
        "place_of_origin": person.place_of_origin,
        "place_of_residence": person.place_of_residence,
        "date_of_expiry": iso(person.date_of_expiry),
        "date_of_issue": iso(person.date_of_issue),
        "old_id_number": person.old_id_number if document_type in WITH_QR else None,
    }


def _page_truth(page: Page, index: int, degradation: Degradation, *, lossless: bool = False) -> dict[str, object]:
    height, width = page.image.shape[:2]
    return {
        "page": index,
        "width": width,
        "height": height,
        "dpi": page.dpi,
        "cards": [{"side": c.side, "corners": c.corners(), "angle": c.angle()} for c in page.cards],
        "degradation": {
            "blur_sigma": round(degradation.blur_sigma, 2),
            "noise_sigma": round(degradation.noise_sigma, 2),
            "illumination": round(degradation.illumination, 3),
            "lid_shadow": round(degradation.lid_shadow, 2),
            "jpeg_quality": None if lossless else degradation.jpeg_quality,
            "white_point": page.white_point,
        },
    }


def build_case(index: int, seed: int, plan: CasePlan, namer: FileNamer) -> BuiltCase:
    """Generate one case from its plan; the case's randomness depends only on (seed, index)."""
    rng = np.random.default_rng([seed, index])
    person = make_person(rng, plan.document_type)
    sides = {side: render_side(person, plan.document_type, side) for side in ("front", "back")}
    if plan.qr_damaged and plan.document_type in WITH_QR:
        damaged_side = QR_SIDE[plan.document_type]
        sides[damaged_side] = _damage_until_unreadable(sides[damaged_side], rng)
    order = ["front", "back"] if rng.random() < 0.7 else ["back", "front"]
    cards = [(side, sides[side].image) for side in order]
    rotations = list(plan.rotations)
    layout = plan.layout

    def degradation() -> Degradation:
        return Degradation.random(rng, plan.strength)

    # Lossless files come from a driver's document mode, which clips the lid to white.
    lossless = layout == "png" or (layout == "tiff" and plan.tiff_compression == "deflate")

    def flatbed(
        chosen: list[tuple[str, np.ndarray]], turns: list[Rotation], paper: tuple[float, float] = A4_MM
    ) -> tuple[Page, Degradation]:
        d = degradation()
        if lossless:
            d = d.with_white_clip()
        page = flatbed_page(
            chosen,
            rng,
            dpi=plan.dpi,
            rotation_modes=turns,
            degradation=d,
            paper_mm=paper,
            arrangement=plan.arrangement,
        )
        return page, d

    files: list[BuiltFile] = []
    page_truths: list[list[dict[str, object]]] = []
    if layout in ("separate", "exif"):
        for i, card in enumerate(cards):
            page, d = flatbed([card], [rotations[i]])
            orientation = plan.exif_orientations[i] if layout == "exif" else 1
            data = jpeg_bytes(page.image, d.jpeg_quality, page.dpi, orientation)
            files.append(BuiltFile(namer.name("jpeg"), data, [page]))
            page_truths.append([_page_truth(page, 0, d)])
    elif layout == "one_page":
        page, d = flatbed(cards, rotations)
        files.append(BuiltFile(namer.name("jpeg"), jpeg_bytes(page.image, d.jpeg_quality, page.dpi), [page]))
        page_truths.append([_page_truth(page, 0, d)])
    elif layout in ("pdf", "tiff"):
        pages, truths, qualities = [], [], []
        for i, card in enumerate(cards):
            page, d = flatbed([card], [rotations[i]])
            pages.append(page)
            truths.append(_page_truth(page, i, d, lossless=lossless))
            qualities.append(d.jpeg_quality)
        if layout == "pdf":
            data = pdf_bytes([jpeg_bytes(p.image, q, p.dpi) for p, q in zip(pages, qualities, strict=True)])
        else:
            images = [p.image for p in pages]
            if plan.tiff_grey:  # office scanners often scan documents in grey
                images = [
                    np.ascontiguousarray(np.dot(img[..., :3], [0.114, 0.587, 0.299])).astype(np.uint8) for img in images
                ]
            data = tiff_bytes(images, plan.dpi, plan.tiff_compression, quality=min(qualities))
        files.append(BuiltFile(namer.name(layout), data, pages))
        page_truths.append(truths)
    elif layout == "photo":
        for i, card in enumerate(cards):
            d = degradation()
            page = photo_page([card], rng, size=plan.photo_size, rotation_mode=rotations[i], degradation=d)
            files.append(BuiltFile(namer.name("photo"), jpeg_bytes(page.image, d.jpeg_quality), [page]))
            page_truths.append([_page_truth(page, 0, d)])
    elif layout == "png":
        # Scanner software lets one scan an A5 area; lossless files are big, so this keeps them sane.
        groups = [cards] if plan.png_both_sides else [[card] for card in cards]
        for i, group in enumerate(groups):
            turns = rotations if len(group) == 2 else [rotations[i]]
            page, d = flatbed(group, turns, A5_MM)
            files.append(BuiltFile(namer.name("png"), png_bytes(page.image, page.dpi), [page]))
            page_truths.append([_page_truth(page, 0, d, lossless=True)])
    else:
        raise ValueError(f"unknown layout {layout!r}")

    document_type = plan.document_type
    qr_payload = sides[QR_SIDE[document_type]].qr_payload if document_type in QR_SIDE else None
    truth: dict[str, object] = {
        "case": f"c{index + 1:03d}",
        "layout": layout,
        "document_type": document_type,
        "qr_damaged": bool(plan.qr_damaged and document_type in WITH_QR),
        "qr_payload": qr_payload,
        "mrz": list(sides["back"].mrz) if document_type in WITH_MRZ and sides["back"].mrz else None,
        "fields": _fields(person),
        "files": [{"file": f.name, "pages": pages} for f, pages in zip(files, page_truths, strict=True)],
    }
    return BuiltCase(truth=truth, person=person, sides=sides, files=files)


def generate_samples(out_dir: Path, count: int, seed: int, *, committed: bool = False) -> list[dict]:
    """Write `count` cases of scans into out_dir (flat) with out_dir/truth.json; return the cases.

    committed=True writes the fixed mix kept in the repository (COMMITTED_PLANS, `count` ignored beyond it).
    The same seed gives the same files, byte for byte.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = list(COMMITTED_PLANS[:count]) if committed else random_plans(count, seed)
    namer = FileNamer(np.random.default_rng([seed, 0xF11E]))
    cases: list[dict] = []
    for index, plan in enumerate(plans):
        built = build_case(index, seed, plan, namer)
        for built_file in built.files:
            (out_dir / built_file.name).write_bytes(built_file.data)
        cases.append(built.truth)
    truth = {"seed": seed, "cases": cases}
    (out_dir / TRUTH_FILE).write_text(json.dumps(truth, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return cases
