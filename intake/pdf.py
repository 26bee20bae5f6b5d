"""The merged attachment: the card's sides at true size on A4, in one PDF as small as the budget asks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pymupdf

from intake.errors import PdfOverBudget

MB = 1024 * 1024
MAX_BUDGET_BYTES = 5 * MB  # the procedure's ceiling for the attachment ("không vượt quá 5MB")
PRODUCER = "motcua"

MM = 72 / 25.4  # PDF points per millimetre
CARD_MM = (85.6, 53.98)  # ID-1 (ISO/IEC 7810), the size of every Vietnamese ID card
A4_MM = (210.0, 297.0)
TOP_MM = 20.0
BOTTOM_MM = 20.0
GAP_MM = 15.0

# Resolution and JPEG quality, best first; the last step is the legibility floor and nothing below it is tried
# (the reference measured 150 dpi at quality 60 still legible on synthetic cards, diacritics included).
LADDER: tuple[tuple[int, int], ...] = (
    (300, 80),
    (300, 70),
    (250, 70),
    (200, 70),
    (200, 60),
    (150, 60),
    (150, 50),
)
FLOOR_DPI, FLOOR_QUALITY = LADDER[-1]
MAX_DPI = 600


@dataclass(frozen=True)
class PdfResult:
    """The merged PDF and the settings that made it fit."""

    data: bytes = field(repr=False)
    dpi: int
    quality: int
    size: int
    pages: int
    # The sides' JPEG streams as the PDF embeds them, in order; each at `dpi` (never above its own pixels).
    jpegs: tuple[bytes, ...] = field(default=(), repr=False)


def merge_pdf(
    sides: Sequence[np.ndarray],
    *,
    budget_bytes: int = MAX_BUDGET_BYTES,
    dpi: int = 300,
    quality: int = 70,
    title: str | None = None,
) -> PdfResult:
    """One PDF of the card's sides (front first), each at true size, as a photocopy of both sides would be.

    Starts at `dpi`/`quality` and steps down LADDER until the file fits `budget_bytes` (never above 5 MB);
    raises PdfOverBudget if even the legibility floor does not fit. Sides are BGR (or gray) uint8 images of
    straightened cards; smaller images are embedded as they are, never enlarged.
    """
    images = [_checked(index, side) for index, side in enumerate(sides)]
    if not images:
        raise ValueError("merge_pdf needs at least one side")
    if budget_bytes <= 0:
        raise ValueError("budget_bytes must be positive")
    if not FLOOR_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be between {FLOOR_DPI} and {MAX_DPI}")
    if not FLOOR_QUALITY <= quality <= 100:
        raise ValueError(f"quality must be between {FLOOR_QUALITY} and 100")
    budget = min(budget_bytes, MAX_BUDGET_BYTES)
    slots = _layout([image.shape[1] >= image.shape[0] for image in images])

    smallest: tuple[int, int, int] | None = None
    scaled_dpi, scaled = 0, list(images)
    for step_dpi, step_quality in _attempts(dpi, quality):
        if step_dpi != scaled_dpi:  # the ladder keeps a resolution for several qualities: resize once
            scaled_dpi = step_dpi
            scaled = [_resize(image, slot.rect, step_dpi) for image, slot in zip(images, slots, strict=True)]
        jpegs = tuple(_encode_jpeg(image, step_quality) for image in scaled)
        data = _build(jpegs, slots, title)
        if len(data) <= budget:
            return PdfResult(data, step_dpi, step_quality, len(data), slots[-1].page + 1, jpegs)
        if smallest is None or len(data) < smallest[0]:
            smallest = (len(data), step_dpi, step_quality)
    assert smallest is not None
    raise PdfOverBudget(smallest[0], budget, dpi=smallest[1], quality=smallest[2])


def write_pdf(result: PdfResult, path: Path | str) -> Path:
    """Write the PDF so that the file is either absent or complete, readable by the owner and group only."""
    path = Path(path)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            # For the owner and its group (the service's), never for others; mkstemp's 0o600 would shut out
            # the group, and umask must not decide either way.
            os.fchmod(f.fileno(), 0o640)
            f.write(result.data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


@dataclass(frozen=True)
class _Slot:
    page: int
    rect: pymupdf.Rect  # in points, top-left origin


def _attempts(dpi: int, quality: int) -> list[tuple[int, int]]:
    """The caller's setting, then every step of the ladder below it (both no higher), ending at the floor."""
    steps = [(dpi, quality)]
    steps += [(d, q) for d, q in LADDER if d <= dpi and q <= quality and (d, q) != (dpi, quality)]
    return steps


def _checked(index: int, side: np.ndarray) -> np.ndarray:
    if not isinstance(side, np.ndarray) or side.dtype != np.uint8:
        raise ValueError(f"side {index}: expected a uint8 image")
    if not (side.ndim == 2 or (side.ndim == 3 and side.shape[2] in (1, 3))) or min(side.shape[:2]) == 0:
        raise ValueError(f"side {index}: expected H×W (gray) or H×W×3 (BGR), got {side.shape}")
    return side[..., 0] if side.ndim == 3 and side.shape[2] == 1 else side


def _layout(landscape: Sequence[bool]) -> list[_Slot]:
    """Sides stacked top-down, centred, a gap apart; one that does not fit above the margin starts a page."""
    page_w, page_h = A4_MM[0] * MM, A4_MM[1] * MM
    slots: list[_Slot] = []
    page, y = 0, TOP_MM * MM
    for wide in landscape:
        w_mm, h_mm = CARD_MM if wide else CARD_MM[::-1]
        w, h = w_mm * MM, h_mm * MM
        if slots and y + h > page_h - BOTTOM_MM * MM:
            page, y = page + 1, TOP_MM * MM
        x = (page_w - w) / 2
        slots.append(_Slot(page, pymupdf.Rect(x, y, x + w, y + h)))
        y += h + GAP_MM * MM
    return slots


def _resize(image: np.ndarray, rect: pymupdf.Rect, dpi: int) -> np.ndarray:
    """The side at `dpi` for its printed size: shrunk (INTER_AREA), never enlarged (bytes, not detail)."""
    target_w = round(rect.width / 72 * dpi)
    target_h = round(rect.height / 72 * dpi)
    height, width = image.shape[:2]
    if width <= target_w and height <= target_h:
        return image
    size = (min(width, target_w), min(height, target_h))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    # 4:2:0 chroma: the print is dark on light, carried by luminance; 4:4:4 costs about 20 % more for nothing
    # visible. Optimised Huffman tables save 5 % losslessly; baseline, not progressive, for old PDF readers.
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        quality,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
        cv2.IMWRITE_JPEG_OPTIMIZE,
        1,
    ]
    ok, encoded = cv2.imencode(".jpg", image, params)
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return encoded.tobytes()


def _build(jpegs: Sequence[bytes], slots: Sequence[_Slot], title: str | None) -> bytes:
    page_w, page_h = A4_MM[0] * MM, A4_MM[1] * MM
    with pymupdf.open() as doc:
        for _ in range(slots[-1].page + 1):
            doc.new_page(width=page_w, height=page_h)
        for jpeg, slot in zip(jpegs, slots, strict=True):
            # MuPDF embeds a JPEG stream as it is (DCTDecode), without decoding and re-encoding it.
            doc[slot.page].insert_image(slot.rect, stream=jpeg, keep_proportion=False)
        # Only what we choose goes in: no author, no dates, no MuPDF banner in the catalogue.
        doc.set_metadata({"title": title or "", "producer": PRODUCER, "creator": PRODUCER})
        doc.xref_set_key(doc.pdf_catalog(), "Info", "null")
        return doc.tobytes(garbage=3, deflate=True)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable: a crash right after must not bring back the old file or none."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform; the data itself is already on disk
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
