"""The synthetic sample generator: deterministic, self-consistent truth, corners that are the real transform."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pymupdf
import pytest
import zxingcpp
from PIL import Image, ImageOps

from intake.synth import generate_samples, make_person, render_card
from intake.synth.cards import QR_SIDE, WITH_MRZ, mrz_for, qr_payload
from intake.synth.formats import jpeg_bytes, pdf_bytes, png_bytes, tiff_bytes
from intake.synth.generate import COMMITTED_PLANS, BuiltCase, CasePlan, FileNamer, build_case
from intake.synth.people import DOCUMENT_TYPES, ISSUE_PERIODS, age_on, expiry_for
from ocr.idnumber import decode_id_number
from ocr.mrz import strip_diacritics, td1_checks

COMMITTED_BUDGET = 15_000_000  # bytes, all committed scan files together

# One clean case per generation and layout family: enough to cover every design and every file kind.
PLANS = (
    CasePlan("cccd_chip", "separate", 200, ("arbitrary", 90.0), strength=0.0),
    CasePlan("cancuoc2024", "exif", 200, (180.0, "small"), strength=0.0, exif_orientations=(6, 8)),
    CasePlan("cccd_barcode", "photo", rotations=("small", 270.0), strength=0.0),
    CasePlan("cmnd9", "one_page", 300, ("small", "arbitrary"), strength=0.0, arrangement="side_by_side"),
    CasePlan("cmnd12", "pdf", 200, ("small", "small"), strength=0.0),
    CasePlan("cccd_chip", "tiff", 200, ("small", "small"), qr_damaged=True, strength=0.3, tiff_compression="deflate"),
    CasePlan("cancuoc2024", "png", 200, ("small", "arbitrary"), qr_damaged=True, strength=0.3),
)


@pytest.fixture(scope="module")
def built() -> list[BuiltCase]:
    namer = FileNamer(np.random.default_rng(7))
    return [build_case(index, 7, plan, namer) for index, plan in enumerate(PLANS)]


def _pages_of(name: str, data: bytes) -> list[np.ndarray]:
    """Decode a file as displayed (EXIF applied), one BGR image per page."""
    if name.lower().endswith(".pdf"):
        pages = []
        with pymupdf.open(stream=data, filetype="pdf") as document:
            for page in document:
                xref = page.get_images()[0][0]
                image = Image.open(io.BytesIO(document.extract_image(xref)["image"]))
                pages.append(np.asarray(image.convert("RGB"))[..., ::-1])
        return pages
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frames.append(np.asarray(ImageOps.exif_transpose(image).convert("RGB"))[..., ::-1])
    return frames


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = cv2.GaussianBlur(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), (0, 0), 1.5).astype(np.float64)
    b = cv2.GaussianBlur(cv2.cvtColor(b, cv2.COLOR_BGR2GRAY), (0, 0), 1.5).astype(np.float64)
    # Leave out the rim, where the rounded corners and the cast shadow differ by design.
    a, b = a[30:-30, 30:-30].ravel(), b[30:-30, 30:-30].ravel()
    return float(np.corrcoef(a, b)[0, 1])


def test_same_seed_same_truth_and_bytes(tmp_path: Path) -> None:
    first = generate_samples(tmp_path / "a", 2, 11)
    second = generate_samples(tmp_path / "b", 2, 11)
    assert first == second
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    truth = json.loads((tmp_path / "a" / "truth.json").read_text(encoding="utf-8"))
    assert truth["seed"] == 11 and truth["cases"] == first


def test_every_file_format_encodes_the_same_bytes_twice() -> None:
    page = np.random.default_rng(1).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    for encode in (
        lambda: jpeg_bytes(page, 80, 200, orientation=6),
        lambda: png_bytes(page, 300),
        lambda: tiff_bytes([page, page], 200, "jpeg"),
        lambda: tiff_bytes([page[..., 0], page[..., 1]], 300, "deflate"),
        lambda: pdf_bytes([jpeg_bytes(page, 80, 200), jpeg_bytes(page, 70, 200)]),
    ):
        assert encode() == encode()


def test_pdf_bytes_do_not_change_between_processes() -> None:
    # A PDF writer may put a random /ID in the trailer; that only shows from one run to the next.
    script = (
        "import hashlib, numpy as np; from intake.synth.formats import jpeg_bytes, pdf_bytes; "
        "page = np.full((40, 30, 3), 128, np.uint8); "
        "print(hashlib.sha256(pdf_bytes([jpeg_bytes(page, 80, 200)])).hexdigest())"
    )
    digests = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(digests) == 1


def test_render_card_is_an_upright_id1_card() -> None:
    person = make_person(np.random.default_rng(3), "cccd_chip")
    card = render_card(person, "cccd_chip", "front")
    assert card.shape == (638, 1011, 3) and card.dtype == np.uint8
    assert card[0, 0].tolist() == [255, 255, 255] and card[-1, -1].tolist() == [255, 255, 255]
    assert card[319, 505].mean() < 255


def test_canonical_qr_decodes_to_the_truth_payload(built: list[BuiltCase]) -> None:
    checked = 0
    for case in built:
        document_type = case.truth["document_type"]
        if document_type not in QR_SIDE:
            assert case.truth["qr_payload"] is None
            continue
        side = case.sides[QR_SIDE[str(document_type)]]
        results = zxingcpp.read_barcodes(side.image)
        if case.truth["qr_damaged"]:
            assert not results, "a damaged QR code still reads"
        else:
            assert [r.text for r in results] == [case.truth["qr_payload"]]
            checked += 1
    assert checked >= 3


def test_warping_back_with_the_truth_gives_the_card(built: list[BuiltCase]) -> None:
    for case in built:
        if case.truth["qr_damaged"]:
            continue  # the damage is on the card itself; sides[] holds it, but keep this test to clean cases
        for built_file, entry in zip(case.files, case.truth["files"], strict=True):  # type: ignore[call-overload]
            images = _pages_of(built_file.name, built_file.data)
            assert len(images) == len(entry["pages"])
            for image, page in zip(images, entry["pages"], strict=True):
                assert image.shape[:2] == (page["height"], page["width"]), built_file.name
                for card in page["cards"]:
                    corners = np.array(card["corners"], np.float32)
                    target = np.array([[0, 0], [1011, 0], [1011, 638], [0, 638]], np.float32)
                    back = cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners, target), (1011, 638))
                    score = _correlation(back, case.sides[card["side"]].image)
                    assert score > 0.8, f"{built_file.name} {card['side']}: correlation {score:.2f}"


def test_files_carry_their_resolution_and_orientation(built: list[BuiltCase]) -> None:
    for case in built:
        for built_file, entry in zip(case.files, case.truth["files"], strict=True):  # type: ignore[call-overload]
            page = entry["pages"][0]
            if built_file.name.lower().endswith(".pdf"):
                with pymupdf.open(stream=built_file.data, filetype="pdf") as document:
                    assert document.page_count == len(entry["pages"])
                    # img2pdf sizes the page from the dpi: A4 in points.
                    assert document[0].rect.width == pytest.approx(210 / 25.4 * 72, abs=1)
                continue
            image = Image.open(io.BytesIO(built_file.data))
            if page["dpi"] is not None:
                assert image.info["dpi"] == pytest.approx((page["dpi"], page["dpi"]), abs=0.01)
            orientation = image.getexif().get(0x0112, 1)
            if case.truth["layout"] == "exif":
                assert orientation in (3, 6, 8)
                if orientation in (6, 8):  # stored turned: a loader that ignores EXIF sees the wrong shape
                    assert image.size == (page["height"], page["width"])
            else:
                assert orientation == 1


def _check_case_truth(case: dict[str, Any]) -> None:
    fields = case["fields"]
    document_type = case["document_type"]
    assert document_type in DOCUMENT_TYPES
    name = fields["full_name"]
    assert name == unicodedata.normalize("NFC", name) == name.upper() and len(name.split()) >= 2
    born = date.fromisoformat(fields["date_of_birth"])
    issued = date.fromisoformat(fields["date_of_issue"])
    first, last = ISSUE_PERIODS[document_type]
    assert first <= issued <= last
    assert age_on(born, issued) >= 14
    expiry = fields["date_of_expiry"]
    if document_type == "cmnd9":
        assert expiry is None and fields["sex"] is None and len(fields["id_number"]) == 9
    else:
        assert expiry == (e.isoformat() if (e := expiry_for(born, issued)) else None)
        info = decode_id_number(fields["id_number"])
        assert info.sex == fields["sex"] and info.birth_year == born.year
        assert info.province_name is not None and fields["place_of_origin"].endswith(info.province_name)
    if document_type in WITH_MRZ:
        lines = case["mrz"]
        assert len(lines) == 3 and all(len(line) == 30 for line in lines)
        assert all(td1_checks(lines).values())
        assert lines[0][15:27] == fields["id_number"]
        assert lines[1][:6] == born.strftime("%y%m%d")
        assert lines[2].split("<<")[0] == strip_diacritics(name.split()[0])
    else:
        assert case["mrz"] is None
    if document_type in QR_SIDE:
        parts = case["qr_payload"].split("|")
        assert len(parts) == 7
        assert parts[0] == fields["id_number"] and parts[1] == (fields["old_id_number"] or "")
        assert parts[2].upper() == name and parts[3] == born.strftime("%d%m%Y") and parts[4] == fields["sex"]
        assert parts[5] == fields["place_of_residence"] and parts[6] == issued.strftime("%d%m%Y")
    else:
        assert case["qr_payload"] is None and fields["old_id_number"] is None
    for entry in case["files"]:
        for page in entry["pages"]:
            for card in page["cards"]:
                corners = np.array(card["corners"])
                assert corners.shape == (4, 2)
                assert (corners >= 0).all() and (corners[:, 0] <= page["width"]).all()
                assert (corners[:, 1] <= page["height"]).all()
                top = corners[1] - corners[0]
                assert card["angle"] == pytest.approx(np.degrees(np.arctan2(-top[1], top[0])), abs=0.02)


def test_truth_is_consistent(built: list[BuiltCase]) -> None:
    for case in built:
        _check_case_truth(case.truth)
        person = case.person
        if case.truth["document_type"] in WITH_MRZ:
            assert case.truth["mrz"] == list(mrz_for(person))
        if case.truth["qr_payload"] is not None:
            assert case.truth["qr_payload"] == qr_payload(person)


def test_committed_samples_are_consistent_and_small(samples: Path, sample_cases: list[dict[str, Any]]) -> None:
    assert len(sample_cases) == len(COMMITTED_PLANS)
    total = 0
    for case in sample_cases:
        _check_case_truth(case)
        for entry in case["files"]:
            total += (samples / entry["file"]).stat().st_size
    assert total < COMMITTED_BUDGET
    kinds = [case["document_type"] for case in sample_cases]
    layouts = [case["layout"] for case in sample_cases]
    assert all(kinds.count(kind) >= 5 for kind in DOCUMENT_TYPES)
    assert all(layouts.count(layout) >= 2 for layout in ("separate", "one_page", "pdf", "tiff", "photo", "exif", "png"))
    assert sum(case["qr_damaged"] for case in sample_cases) >= 2
    angles = [
        card["angle"] % 360
        for case in sample_cases
        for entry in case["files"]
        for page in entry["pages"]
        for card in page["cards"]
        if page["dpi"] is not None
    ]
    for right in (90, 180, 270):
        assert sum(abs(a - right) < 0.01 for a in angles) >= 2, right
    dpis = {page["dpi"] for case in sample_cases for entry in case["files"] for page in entry["pages"]}
    assert {200, 300, None} <= dpis
