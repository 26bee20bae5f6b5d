"""intake.pdf on card-like images: true-size layout, JPEGs embedded as encoded, size budget, atomic write."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest

from intake.errors import ExitCode, PdfOverBudget
from intake.pdf import MAX_BUDGET_BYTES, PdfResult, _encode_jpeg, merge_pdf, write_pdf

MM = 72 / 25.4
CARD_W, CARD_H = 85.6 * MM, 53.98 * MM  # 242.65 × 153.01 pt
A4_W, A4_H = 210 * MM, 297 * MM

FRONT_LINES = [
    "CONG HOA XA HOI CHU NGHIA VIET NAM",
    "Doc lap - Tu do - Hanh phuc",
    "CAN CUOC CONG DAN",
    "So / No.: 001099012345",
    "Ho va ten / Full name:",
    "NGUYEN VAN AN",
    "Ngay sinh / Date of birth: 01/02/1990",
    "Gioi tinh / Sex: Nam   Quoc tich: Viet Nam",
    "Que quan: Phuong Hang Bac, Ha Noi",
    "Noi thuong tru: 12 Hang Bac, Hoan Kiem, Ha Noi",
]
BACK_LINES = [
    "Dac diem nhan dang: Not ruoi 1cm",
    "Ngay 01 thang 02 nam 2021",
    "CUC TRUONG CUC CANH SAT",
    "QUAN LY HANH CHINH VE TRAT TU XA HOI",
    "IDVNM0990123456001099012345<<1",
    "9001017M3001019VNM<<<<<<<<<<<6",
    "NGUYEN<<VAN<AN<<<<<<<<<<<<<<<<",
]


def card_side(seed: int, back: bool = False) -> np.ndarray:
    """A straightened card side as cards.py hands it over: 1011×638 (ID-1 at 300 dpi), pale guilloche-like
    texture, a photo block, dark text, scanner noise and slight blur."""
    rng = np.random.default_rng(seed)
    height, width = 638, 1011
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    texture = 0.5 + 0.25 * np.sin(xx / 7 + 3 * np.sin(yy / 23)) + 0.25 * np.sin((xx + yy) / 11)
    tint = (225, 232, 238) if back else (235, 225, 215)
    image = np.stack([tint[c] - 18 * texture - (10 * yy / height if c == 0 else 0) for c in range(3)], axis=-1)
    image = np.clip(image, 0, 255).astype(np.uint8)
    if not back:
        cv2.rectangle(image, (40, 180), (300, 520), (170, 160, 150), -1)
        cv2.circle(image, (120, 90), 55, (60, 60, 200), 3)
    for number, line in enumerate(BACK_LINES if back else FRONT_LINES):
        origin = (40 if back else 330, 60 + number * 55)
        cv2.putText(image, line, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.85, (30, 30, 30), 2, cv2.LINE_AA)
    noisy = image.astype(np.float32) + rng.normal(0, 4, image.shape)
    return cv2.GaussianBlur(np.clip(noisy, 0, 255).astype(np.uint8), (3, 3), 0.6)


@pytest.fixture(scope="module")
def sides() -> list[np.ndarray]:
    return [card_side(1), card_side(2, back=True)]


@pytest.fixture(scope="module")
def merged(sides: list[np.ndarray]) -> PdfResult:
    return merge_pdf(sides, title="CCCD 001099012345")


def image_placements(data: bytes) -> list[tuple[int, int, pymupdf.Rect]]:
    """(page number, xref, rect in points) of every image, in drawing order."""
    placements = []
    with pymupdf.open(stream=data, filetype="pdf") as doc:
        for page in doc:
            for item in page.get_images(full=True):
                for rect in page.get_image_rects(item[0]):
                    placements.append((page.number, item[0], rect))
    return placements


def test_two_sides_on_one_a4_page_at_true_size(merged: PdfResult) -> None:
    assert merged.pages == 1
    with pymupdf.open(stream=merged.data, filetype="pdf") as doc:
        assert doc.page_count == 1
        assert doc[0].rect.width == pytest.approx(A4_W, abs=0.5)
        assert doc[0].rect.height == pytest.approx(A4_H, abs=0.5)
    placements = image_placements(merged.data)
    assert len(placements) == 2
    front, back = (rect for _, _, rect in sorted(placements, key=lambda p: p[2].y0))
    for rect in (front, back):
        assert rect.width == pytest.approx(CARD_W, abs=1)  # 85.6 mm = 242.65 pt
        assert rect.height == pytest.approx(CARD_H, abs=1)  # 53.98 mm = 153.01 pt
        assert (rect.x0 + rect.x1) / 2 == pytest.approx(A4_W / 2, abs=1)  # centred
    assert back.y0 - front.y1 == pytest.approx(15 * MM, abs=1)  # a 15 mm gap
    assert back.y1 < A4_H / 2  # both in the upper half


def test_front_comes_first(sides: list[np.ndarray], merged: PdfResult) -> None:
    rects = sorted((rect for _, _, rect in image_placements(merged.data)), key=lambda rect: rect.y0)
    with pymupdf.open(stream=merged.data, filetype="pdf") as doc:
        for rect, expected, other in zip(rects, sides, sides[::-1], strict=True):
            pix = doc[0].get_pixmap(dpi=300, clip=rect)
            shown = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3)[..., ::-1]
            shown = cv2.resize(shown, (1011, 638), interpolation=cv2.INTER_AREA).astype(int)
            # What the page shows in each slot is that side (JPEG loss only), not the other one.
            assert np.abs(shown - expected).mean() < 4 < np.abs(shown - other).mean()


def test_jpeg_bytes_are_embedded_unchanged(sides: list[np.ndarray], merged: PdfResult) -> None:
    expected = [_encode_jpeg(side, merged.quality) for side in sides]  # deterministic: same input, same bytes
    with pymupdf.open(stream=merged.data, filetype="pdf") as doc:
        for (_, xref, _), jpeg in zip(image_placements(merged.data), expected, strict=True):
            assert doc.xref_get_key(xref, "Filter") == ("name", "/DCTDecode")
            extracted = doc.extract_image(xref)
            assert extracted["ext"] == "jpeg"
            assert extracted["image"] == jpeg
            assert doc.xref_stream_raw(xref) == jpeg
            assert (extracted["width"], extracted["height"]) == (1011, 638)


def test_default_output_is_small(merged: PdfResult) -> None:
    assert (merged.dpi, merged.quality) == (300, 70)
    assert merged.size == len(merged.data)
    assert merged.size < 200 * 1024  # measured: about 100 KB for these two sides


def test_metadata_holds_only_title_and_producer(merged: PdfResult) -> None:
    with pymupdf.open(stream=merged.data, filetype="pdf") as doc:
        meta = doc.metadata
    assert meta is not None
    assert meta["title"] == "CCCD 001099012345"
    assert meta["producer"] == "motcua"
    assert meta["creator"] == "motcua"
    assert meta["author"] == meta["subject"] == meta["keywords"] == ""
    assert meta["creationDate"] == meta["modDate"] == ""


def test_tight_budget_steps_down_the_ladder(sides: list[np.ndarray], merged: PdfResult) -> None:
    budget = 60_000
    result = merge_pdf(sides, budget_bytes=budget)
    assert result.size <= budget < merged.size
    assert (result.dpi, result.quality) < (300, 70)
    assert (result.dpi, result.quality) >= (150, 50)
    width = round(CARD_W / 72 * result.dpi)
    with pymupdf.open(stream=result.data, filetype="pdf") as doc:
        assert {doc.extract_image(xref)["width"] for _, xref, _ in image_placements(result.data)} == {width}


def test_impossible_budget_raises(sides: list[np.ndarray]) -> None:
    with pytest.raises(PdfOverBudget) as caught:
        merge_pdf(sides, budget_bytes=5_000)
    err = caught.value
    assert err.exit_code == ExitCode.pdf_over_budget
    assert (err.dpi, err.quality) == (150, 50)
    assert err.size > err.budget == 5_000
    assert "150 dpi, JPEG quality 50" in err.message
    assert "over the 5 KB budget" in err.message


def test_budget_is_capped_at_5_mb() -> None:
    # Ten sides of pure noise at quality 95 make about 6.6 MB: a 50 MB budget must still give at most 5 MB.
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (638, 1011, 3), dtype=np.uint8) for _ in range(10)]
    result = merge_pdf(noise, budget_bytes=50 * 1024 * 1024, quality=95)
    assert result.size <= MAX_BUDGET_BYTES == 5 * 1024 * 1024
    assert (result.dpi, result.quality) < (300, 95)


def test_more_sides_spill_to_a_second_page(sides: list[np.ndarray]) -> None:
    result = merge_pdf([*sides, card_side(3), card_side(4, back=True)])  # two citizens' cards
    assert result.pages == 2
    pages = [page for page, _, _ in image_placements(result.data)]
    assert sorted(pages) == [0, 0, 0, 1]


def test_larger_images_are_resized_smaller_ones_kept(sides: list[np.ndarray]) -> None:
    big = cv2.resize(sides[0], (2022, 1276))
    small = cv2.resize(sides[1], (500, 316))
    result = merge_pdf([big, small])
    with pymupdf.open(stream=result.data, filetype="pdf") as doc:
        sizes = [doc.extract_image(xref) for _, xref, _ in image_placements(result.data)]
    assert sorted((s["width"], s["height"]) for s in sizes) == [(500, 316), (1011, 638)]


def test_bad_arguments() -> None:
    side = np.zeros((638, 1011, 3), np.uint8)
    for kwargs in ({"dpi": 100}, {"quality": 30}, {"budget_bytes": 0}):
        with pytest.raises(ValueError):
            merge_pdf([side], **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        merge_pdf([])
    with pytest.raises(ValueError):
        merge_pdf([side.astype(np.float32)])


def test_write_is_atomic_and_private(tmp_path: Path, merged: PdfResult) -> None:
    target = tmp_path / "cccd.pdf"
    target.write_bytes(b"old attachment")
    written = write_pdf(merged, target)
    assert written == target
    assert target.read_bytes() == merged.data
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.listdir(tmp_path) == ["cccd.pdf"]  # no temporary file left behind


def test_failed_write_leaves_nothing(tmp_path: Path, merged: PdfResult) -> None:
    with pytest.raises(OSError):
        write_pdf(merged, tmp_path / "missing-folder" / "cccd.pdf")
    target = tmp_path / "cccd.pdf"
    target.mkdir()  # os.replace cannot put a file over a folder
    with pytest.raises(OSError):
        write_pdf(merged, target)
    assert sorted(os.listdir(tmp_path)) == ["cccd.pdf"]


def test_the_stored_side_images_are_the_pdfs_own(samples: Path, sample_cases: list) -> None:
    """A citizen's side images (the reviewer's crops come from them) are the JPEG streams of the attachment itself,
    at the card's full size: one encoding of each side, not two."""
    from intake.cards import CARD_SIZE
    from intake.counter import intake_citizen

    case = next(c for c in sample_cases if len(c["files"]) == 2)
    scans = [(entry["file"], (samples / entry["file"]).read_bytes()) for entry in case["files"]]
    result = intake_citizen(scans)
    assert set(result.side_jpegs) == {"front", "back"}
    with pymupdf.open(stream=result.pdf, filetype="pdf") as doc:
        embedded = [doc.xref_stream_raw(xref) for page in doc for xref, *_ in page.get_images(full=True)]
    assert embedded == [result.side_jpegs["front"], result.side_jpegs["back"]]
    for jpeg in result.side_jpegs.values():
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image is not None and image.shape[1::-1] == CARD_SIZE
