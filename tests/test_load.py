"""intake.load on real files: what it refuses (type, exit code, message) and what it returns."""

from __future__ import annotations

import io
import pickle
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import cv2
import img2pdf
import numpy as np
import pymupdf
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from intake.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    ExitCode,
    FileTooLarge,
    IntakeError,
    NoCardFound,
    PdfOverBudget,
    TooManyPages,
    TooManyPixels,
    TruncatedFile,
    UnsupportedFile,
)
from intake.load import Limits, Page, load_pages, sniff

RED_BGR = (0, 0, 255)


def scan_like(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A page-like BGR image: pale noisy paper, a card-coloured block, a few lines of text."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 238, np.uint8)
    image = np.clip(image.astype(np.int16) + rng.integers(-6, 7, image.shape), 0, 255).astype(np.uint8)
    cv2.rectangle(image, (width // 8, height // 8), (width // 2, height // 3), (205, 222, 236), -1)
    for line in range(4):
        cv2.putText(image, f"SO 0010990123{line}", (width // 8, height // 2 + 30 * line), 0, 0.8, (30, 30, 30), 2)
    return image


def jpeg_bytes(image: np.ndarray, quality: int = 90) -> bytes:
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def pil_bytes(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width×height 1-bit pixels: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def pdf_with_pages(count: int) -> bytes:
    with pymupdf.open() as doc:
        for number in range(count):
            doc.new_page().insert_text((72, 72), f"page {number + 1}")
        return doc.tobytes()


def refused(source: Path | bytes, kind: type[IntakeError], code: ExitCode, **kwargs: object) -> IntakeError:
    with pytest.raises(kind) as caught:
        load_pages(source, **kwargs)  # type: ignore[arg-type]
    assert caught.value.exit_code == code
    return caught.value


# --- refused ---------------------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "scan.jpg"
    path.write_bytes(b"")
    err = refused(path, EmptyFile, ExitCode.unreadable_input)
    assert err.source == "scan.jpg"
    assert str(err) == "scan.jpg: the file is empty. Scan the card again."


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = jpeg_bytes(scan_like())
    path = tmp_path / "front.jpg"
    path.write_bytes(data[: len(data) // 2])
    err = refused(path, TruncatedFile, ExitCode.unreadable_input)
    assert err.message.startswith("front.jpg: the file is cut short")


def test_truncated_png() -> None:
    data = cv2.imencode(".png", scan_like())[1].tobytes()
    err = refused(data[: len(data) // 2], TruncatedFile, ExitCode.unreadable_input, name="back.png")
    assert err.message.startswith("back.png: the file is cut short")


def test_file_shorter_than_its_signature_is_truncated() -> None:
    refused(b"\xff\xd8", TruncatedFile, ExitCode.unreadable_input, name="cut.jpg")


def test_zip_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "scan.jpg"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("scan.jpg", jpeg_bytes(scan_like()))
    err = refused(path, UnsupportedFile, ExitCode.unreadable_input)
    assert "scan.jpg: not a JPEG, PNG, TIFF or PDF file" in err.message
    assert "ZIP archive" in err.message


def test_text_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "cccd.jpg"
    path.write_text("Họ và tên: NGUYỄN VĂN AN\n" * 10, encoding="ascii", errors="replace")
    err = refused(path, UnsupportedFile, ExitCode.unreadable_input)
    assert err.message.startswith("cccd.jpg: not a JPEG, PNG, TIFF or PDF file (it looks like a text file)")


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    with pymupdf.open() as doc:
        doc.new_page().insert_text((72, 72), "CĂN CƯỚC")
        aes_256 = pymupdf.PDF_ENCRYPT_AES_256  # type: ignore[attr-defined]
        doc.save(path, encryption=aes_256, user_pw="1234", owner_pw="owner")
    err = refused(path, EncryptedPdf, ExitCode.encrypted_pdf)
    assert err.message.startswith("locked.pdf: the PDF is password-protected")


def test_file_over_byte_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    path.write_bytes(jpeg_bytes(scan_like()))
    err = refused(path, FileTooLarge, ExitCode.input_too_large, limits=Limits(max_bytes=1000))
    assert err.message.startswith("big.jpg: ")
    assert "over the 1000 bytes limit" in err.message


def test_huge_file_refused_from_its_size_alone(tmp_path: Path) -> None:
    path = tmp_path / "huge.tif"
    with path.open("wb") as f:
        f.truncate(60 * 1024 * 1024)  # sparse: 60 MB by its size, nothing on disk, nothing read
    err = refused(path, FileTooLarge, ExitCode.input_too_large)
    assert err.message == "huge.tif: 60.0 MB, over the 50.0 MB limit. Scan at 300 dpi, as JPEG."


def test_decompression_bomb_png_refused_from_its_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(png_declaring(30_000, 30_000))
    assert path.stat().st_size < 1000
    err = refused(path, TooManyPixels, ExitCode.input_too_large)
    # Only 8 rows of pixels exist: had it been decoded, it would have been refused as cut short instead.
    assert isinstance(err, TooManyPixels)
    assert err.pixels == 900_000_000
    assert err.message.startswith("bomb.png: 900.0 million pixels, over the 100.0 million limit")


def test_bomb_just_over_the_limit_is_refused_whatever_the_warning_filter() -> None:
    data = png_declaring(10_050, 10_000)  # 100.5 Mpx: Pillow only warns, our limit refuses
    actions: tuple[Literal["ignore"], Literal["error"]] = ("ignore", "error")
    for action in actions:
        with warnings.catch_warnings():
            warnings.simplefilter(action)
            err = refused(data, TooManyPixels, ExitCode.input_too_large, name="big.png")
        assert isinstance(err, TooManyPixels)
        assert err.pixels == 100_500_000


def test_jpeg_header_declaring_huge_size_is_refused() -> None:
    data = bytearray(jpeg_bytes(scan_like(64, 48)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65_000, 65_000)
    err = refused(bytes(data), TooManyPixels, ExitCode.input_too_large, name="lie.jpg")
    assert isinstance(err, TooManyPixels)
    assert err.pixels == 65_000 * 65_000


def test_pixel_limit_counts_all_tiff_pages() -> None:
    frames = [Image.new("RGB", (100, 100), (i * 60, 0, 0)) for i in range(3)]
    data = pil_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    limits = Limits(max_pixels=25_000)  # each 10,000-pixel page fits; the three together do not
    err = refused(data, TooManyPixels, ExitCode.input_too_large, name="x.tif", limits=limits)
    assert isinstance(err, TooManyPixels)
    assert err.total
    assert err.message == "x.tif: 30,000 pixels in all pages, over the 25,000 limit. Scan at 300 dpi."


def test_too_many_pdf_pages(tmp_path: Path) -> None:
    path = tmp_path / "bundle.pdf"
    path.write_bytes(pdf_with_pages(3))
    err = refused(path, TooManyPages, ExitCode.input_too_large, limits=Limits(max_pages=2))
    assert err.message.startswith("bundle.pdf: 3 pages, over the 2-page limit")


def test_too_many_tiff_pages() -> None:
    frames = [Image.new("L", (20, 20), i * 40) for i in range(4)]
    data = pil_bytes(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    err = refused(data, TooManyPages, ExitCode.input_too_large, name="t.tif", limits=Limits(max_pages=3))
    assert err.message.startswith("t.tif: at least 4 pages, over the 3-page limit")


def test_truncated_pdf() -> None:
    with pymupdf.open() as doc:
        page = doc.new_page()
        page.insert_image(page.rect, stream=jpeg_bytes(scan_like()))
        data = doc.tobytes()
    refused(data[: len(data) // 2], TruncatedFile, ExitCode.unreadable_input, name="half.pdf")


def test_corrupt_pdf() -> None:
    data = b"%PDF-1.7\n" + b"not a pdf body " * 50
    err = refused(data, CorruptFile, ExitCode.unreadable_input, name="x.pdf")
    assert err.message == "x.pdf: the file is damaged. Scan the card again."


def test_pdf_without_pages() -> None:
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    data, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(data))
        data += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(data)
    data += b"xref\n0 3\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    data += b"trailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref
    refused(data, CorruptFile, ExitCode.unreadable_input, name="empty.pdf")


def test_vector_page_too_big_to_render() -> None:
    with pymupdf.open() as doc:
        doc.new_page(width=14_400, height=14_400).insert_text((72, 72), "poster")  # 200 × 200 inches
        data = doc.tobytes()
    err = refused(data, TooManyPixels, ExitCode.input_too_large, name="poster.pdf")
    assert err.message.startswith("poster.pdf page 1: ")


# --- accepted --------------------------------------------------------------------------------------------


def test_sniff() -> None:
    assert sniff(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff(b"II*\x00....") == "tiff"
    assert sniff(b"MM\x00*....") == "tiff"
    assert sniff(b"%PDF-1.7\n") == "pdf"
    assert sniff(b"PK\x03\x04") is None
    assert sniff(b"") is None


def test_jpeg_from_bytes_and_from_path(tmp_path: Path) -> None:
    image = scan_like()
    data = pil_bytes(Image.fromarray(image[..., ::-1]), "JPEG", quality=92, dpi=(300, 300))
    path = tmp_path / "front.jpg"
    path.write_bytes(data)

    from_bytes = load_pages(data)
    from_path = load_pages(path)
    named = load_pages(data, name="upload.jpg")

    assert [p.source for p in (*from_bytes, *from_path, *named)] == ["<bytes>", "front.jpg", "upload.jpg"]
    for pages in (from_bytes, from_path):
        assert len(pages) == 1
        page = pages[0]
        assert isinstance(page, Page)
        assert (page.index, page.dpi) == (0, 300.0)
        assert page.image.shape == (480, 640, 3)
        assert page.image.dtype == np.uint8
        assert np.abs(page.image.astype(int) - image).mean() < 3  # BGR order kept, only JPEG loss
    assert np.array_equal(from_bytes[0].image, from_path[0].image)
    assert from_path[0].image.flags["C_CONTIGUOUS"]


def test_jpeg_with_exif_but_no_resolution_has_unknown_dpi() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Scanner"
    data = pil_bytes(Image.new("RGB", (32, 32)), "JPEG", exif=exif)
    assert load_pages(data)[0].dpi is None  # Pillow alone would say 72


def test_png_with_alpha_lies_on_white() -> None:
    rgba = np.zeros((40, 60, 4), np.uint8)  # fully transparent...
    rgba[10:20, 10:20] = (0, 0, 255, 255)  # ...but an opaque red square (RGBA order)
    rgba[30:35, 40:50] = (0, 0, 0, 128)  # and half-transparent black
    data = pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG", dpi=(300, 300))
    page = load_pages(data, name="alpha.png")[0]
    assert page.image.shape == (40, 60, 3)
    assert page.image[0, 0].tolist() == [255, 255, 255]
    assert page.image[15, 15].tolist() == [255, 0, 0]  # blue in RGBA is blue in BGR
    assert abs(int(page.image[32, 45, 0]) - 127) <= 1
    assert page.dpi == 300.0


def test_png_16_bit_gray() -> None:
    gray = np.full((30, 50), 40_000, np.uint16)
    gray[:, :10] = 65_535
    page = load_pages(cv2.imencode(".png", gray)[1].tobytes())[0]
    assert page.image.dtype == np.uint8
    assert page.image.shape == (30, 50, 3)
    assert page.image[0, 0].tolist() == [255, 255, 255]
    assert page.image[0, 20].tolist() == [156, 156, 156]  # 40000 / 65535 of white


@pytest.mark.parametrize("mode", ["1", "L", "P", "CMYK", "LA", "I;16"])
def test_any_pillow_mode_becomes_bgr(mode: str) -> None:
    image = Image.new("RGB", (24, 16), (200, 40, 10)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    page = load_pages(pil_bytes(image, fmt), name=f"x.{fmt.lower()}")[0]
    assert page.image.shape == (16, 24, 3)
    assert page.image.dtype == np.uint8


def test_multipage_tiff_returns_every_page(tmp_path: Path) -> None:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    frames = [Image.new("RGB", (80, 50), colour) for colour in colours]
    path = tmp_path / "both.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:], dpi=(200, 200), compression="tiff_lzw")
    pages = load_pages(path)
    assert [p.index for p in pages] == [0, 1, 2]
    assert all(p.source == "both.tif" and p.dpi == 200.0 and p.image.shape == (50, 80, 3) for p in pages)
    assert [p.image[0, 0].tolist() for p in pages] == [[0, 0, 255], [0, 255, 0], [255, 0, 0]]


def test_pdf_of_two_jpegs_gives_their_own_pixels() -> None:
    front, back = jpeg_bytes(scan_like(seed=1)), jpeg_bytes(scan_like(500, 400, seed=2))
    data = img2pdf.convert([front, back], layout_fun=img2pdf.get_fixed_dpi_layout_fun((200, 200)))
    pages = load_pages(data, name="scan.pdf")
    assert [(p.source, p.index, p.dpi) for p in pages] == [("scan.pdf", 0, 200.0), ("scan.pdf", 1, 200.0)]
    for page, jpeg in zip(pages, (front, back), strict=True):
        decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert decoded is not None
        # Same bytes, same decoder: exactly the embedded image, not a re-rendering of it.
        assert np.array_equal(page.image, decoded)


@pytest.mark.parametrize(("turned", "rotation"), [(0, 90), (0, 180), (0, 270), (90, 0), (180, 0), (270, 90)])
def test_pdf_image_and_page_rotation_are_honoured(turned: int, rotation: int) -> None:
    image = scan_like(300, 200)
    image[:20, :30] = RED_BGR  # marks the image's top-left corner
    width, height = (300, 200) if turned in (0, 180) else (200, 300)
    with pymupdf.open() as doc:
        page = doc.new_page(width=width * 72 / 150, height=height * 72 / 150)
        page.insert_image(page.rect, stream=cv2.imencode(".png", image)[1].tobytes(), rotate=turned)
        page.set_rotation(rotation)
        data = doc.tobytes()
    loaded = load_pages(data)[0]
    with pymupdf.open(stream=data) as doc:
        pix = doc[0].get_pixmap(dpi=150)
        shown = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.width, 3)[..., ::-1]
    assert loaded.dpi == 150.0  # the image's own pixels (a rendering would be at 300 dpi)...
    assert loaded.image.shape == shown.shape  # ...laid out as the reader shows the page
    assert np.abs(loaded.image.astype(int) - shown).mean() < 2


def test_vector_pdf_page_is_rendered_at_300_dpi() -> None:
    with pymupdf.open() as doc:
        page = doc.new_page(width=595.28, height=841.89)  # A4
        page.draw_rect(pymupdf.Rect(72, 72, 144, 144), color=(0, 0, 0), fill=(0, 0, 0))
        data = doc.tobytes()
    loaded = load_pages(data)[0]
    assert loaded.dpi == 300.0
    assert abs(loaded.image.shape[0] - 3508) <= 1 and abs(loaded.image.shape[1] - 2480) <= 1
    assert loaded.image[450, 450].tolist() == [0, 0, 0]  # inside the square: 1.5 in × 300 dpi
    assert loaded.image[100, 100].tolist() == [255, 255, 255]


def test_exif_orientation_6_turns_the_image() -> None:
    stored = np.full((100, 200, 3), 230, np.uint8)
    stored[:20, :20] = RED_BGR  # top-left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    data = pil_bytes(Image.fromarray(stored[..., ::-1]), "JPEG", exif=exif, quality=95)
    image = load_pages(data, name="phone.jpg")[0].image
    assert image.shape == (200, 100, 3)
    assert image[10, 90].tolist() == pytest.approx(list(RED_BGR), abs=12)  # now top-right
    assert image[10, 10].tolist() == pytest.approx([230, 230, 230], abs=12)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(orientation: int) -> None:
    stored = scan_like(120, 80)
    stored[:15, :25] = RED_BGR
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pil_bytes(Image.fromarray(stored[..., ::-1]), "JPEG", exif=exif, quality=95)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))[..., ::-1]
    image = load_pages(data)[0].image
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).mean() < 2


def _mangling_seeds() -> dict[str, bytes]:
    image = scan_like(80, 60)
    rgb = Image.fromarray(image[..., ::-1])
    exif = Image.Exif()
    exif[0x0112] = 6
    with pymupdf.open() as doc:
        doc.new_page().insert_text((50, 50), "vector")
        vector = doc.tobytes()
    return {
        "jpeg": pil_bytes(rgb, "JPEG", exif=exif, dpi=(300, 300)),
        "png": cv2.imencode(".png", image)[1].tobytes(),
        "tiff": pil_bytes(rgb, "TIFF", compression="tiff_lzw"),
        "pdf": img2pdf.convert([jpeg_bytes(image)]),
        "pdf-vector": vector,
    }


MANGLING_SEEDS = _mangling_seeds()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow warns about the damage it tolerates
@settings(max_examples=200, deadline=None, database=None)  # database=None: no .hypothesis/ in the tree
@given(
    kind=st.sampled_from(sorted(MANGLING_SEEDS)),
    cut=st.floats(0.0, 1.0),
    changes=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True), st.integers(0, 255)), max_size=6),
)
def test_mangled_files_are_refused_or_read_never_crash(kind: str, cut: float, changes: list[tuple[float, int]]) -> None:
    data = bytearray(MANGLING_SEEDS[kind])
    for where, value in changes:
        data[int(where * len(data))] = value
    data = data[: max(1, int(cut * len(data)))] if cut < 1 else data
    try:
        pages = load_pages(bytes(data), name=kind)
    except IntakeError as err:
        assert err.source == kind and err.message.startswith(kind)
        assert err.exit_code in (ExitCode.unreadable_input, ExitCode.input_too_large)
        return
    for page in pages:
        assert page.image.dtype == np.uint8 and page.image.ndim == 3 and page.image.shape[2] == 3


# --- errors ----------------------------------------------------------------------------------------------


def test_exit_codes_are_stable() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "ok": 0,
        "error": 1,
        "usage": 2,
        "unreadable_input": 3,
        "input_too_large": 4,
        "encrypted_pdf": 5,
        "no_card_found": 6,
        "pdf_over_budget": 7,
    }


def test_errors_survive_pickling() -> None:
    for err in (
        NoCardFound("scan.jpg", page=1),
        TooManyPixels("b.png", 900, 100, page=0),
        PdfOverBudget(6_000_000, 5 * 1024 * 1024, dpi=150, quality=50),
        EmptyFile("e.jpg"),
    ):
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is type(err)
        assert copy.__dict__ == err.__dict__
        assert str(copy) == str(err)
    assert str(NoCardFound("scan.pdf", page=1)).startswith("scan.pdf page 2: no ID card found")
