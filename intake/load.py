"""Loading scans: JPEG, PNG, TIFF and PDF files (paths or bytes) into upright BGR page images, in limits."""

from __future__ import annotations

import io
import math
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import simplejpeg
from PIL import Image

from intake.errors import (
    CorruptFile,
    EmptyFile,
    EncryptedPdf,
    FileTooLarge,
    IntakeError,
    TooManyPages,
    TooManyPixels,
    TruncatedFile,
    UnsupportedFile,
)

MB = 1024 * 1024
RENDER_DPI = 300
MIN_DPI = 50.0
MAX_DPI = 10_000.0  # above any flatbed's optical resolution: such a value is a bogus header
EXIF_ORIENTATION = 0x0112
BYTES_NAME = "<bytes>"


@dataclass(frozen=True)
class Limits:
    """What a file may hold before it is refused. Pixels are limited per page and for all pages together."""

    max_bytes: int = 50 * MB
    max_pixels: int = 100_000_000
    max_pages: int = 20

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pixels", "max_pages"):
            if getattr(self, name) <= 0:
                raise ValueError(f"Limits.{name} must be positive")


DEFAULT_LIMITS = Limits()


@dataclass(eq=False)
class Page:
    """One page image of a scan: BGR uint8 (H×W×3), upright as the file says, with its resolution if known."""

    image: np.ndarray
    source: str
    index: int
    dpi: float | None


# Pillow checks pixels inside Image.open, before our own check can run. Put its warning threshold at our
# default limit (its own default, 89.5 Mpx, would warn about scans we accept) and keep its error (at twice the
# threshold) as a second line of defence: its protection is moved, never switched off.
Image.MAX_IMAGE_PIXELS = DEFAULT_LIMITS.max_pixels

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"%PDF-", "pdf"),
)
_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "tiff": "TIFF"}
# What Pillow raises on bad data (UnidentifiedImageError is an OSError); cut-short or damaged, sorted later.
_PIL_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError)

# A few things people pick by mistake, so that the refusal can say what the file is.
_LOOKS_LIKE: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive or an Office document"),
    (b"GIF8", "a GIF image"),
    (b"BM", "a BMP image"),
    (b"\xd0\xcf\x11\xe0", "an old Office document"),
    (b"{\\rtf", "an RTF document"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
)


def sniff(data: bytes) -> str | None:
    """The file type from its first bytes: 'jpeg', 'png', 'tiff', 'pdf', or None for anything else."""
    head = bytes(data[:1024])
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    # Readers accept a PDF header anywhere in the first 1024 bytes; some scanner software writes a preamble.
    if b"%PDF-" in head:
        return "pdf"
    return None


def _looks_like(data: bytes) -> str | None:
    head = bytes(data[:16])
    for magic, what in _LOOKS_LIKE:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:8] == b"ftyp":
        return "a HEIC photo or a video" if head[8:12] in (b"heic", b"heix", b"mif1", b"msf1") else "a video"
    sample = bytes(data[:512])
    if sample and all(32 <= b < 127 or b in b"\t\r\n" for b in sample):
        return "a text file"
    return None


def _is_prefix_of_magic(data: bytes) -> bool:
    """A file shorter than its own signature was cut short, not something else."""
    return any(len(data) < len(magic) and magic.startswith(data) for magic, _ in _MAGIC)


def _looks_complete(kind: str, data: bytes) -> bool:
    """Whether the file ends as its format requires. TIFF cannot tell: its directory may be anywhere."""
    tail = bytes(data[-1024:]).rstrip(b"\x00\r\n\t ")
    if kind == "jpeg":
        return tail.endswith(b"\xff\xd9")
    if kind == "png":
        return b"IEND" in tail[-12:]
    if kind == "pdf":
        return b"%%EOF" in tail
    return True


def _read(source: Path | str | bytes, name: str | None, limits: Limits) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or BYTES_NAME
        if len(data) > limits.max_bytes:
            raise FileTooLarge(name, len(data), limits.max_bytes)
        return data, name
    path = Path(source)
    name = name or path.name
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise FileTooLarge(name, size, limits.max_bytes)
    with path.open("rb") as f:
        # Read one byte past the limit: the file may have grown since stat().
        data = f.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise FileTooLarge(name, len(data), limits.max_bytes)
    return data, name


def load_pages(source: Path | str | bytes, *, name: str | None = None, limits: Limits = DEFAULT_LIMITS) -> list[Page]:
    """Every page of a scan file, as upright BGR images; refuses with an IntakeError what it cannot take.

    `source` is a path or the file's bytes; `name` is the file name used in messages and in `Page.source`
    (defaults to the path's name). The type is judged by content, never by the name.
    """
    data, name = _read(source, name, limits)
    if not data:
        raise EmptyFile(name)
    kind = sniff(data)
    if kind is None:
        if _is_prefix_of_magic(data):
            raise TruncatedFile(name)
        raise UnsupportedFile(name, _looks_like(data))
    if kind == "pdf":
        return _load_pdf(data, name, limits)
    return _load_raster(data, kind, name, limits)


# ---------------------------------------------------------------------------------------------------------
# Raster files


def _align_pillow(max_pixels: int) -> None:
    # Raised, never lowered, so that concurrent loads with different limits cannot undercut each other; our
    # own header check enforces each call's limit.
    current = Image.MAX_IMAGE_PIXELS
    if current is None or current < max_pixels:
        Image.MAX_IMAGE_PIXELS = max_pixels


def _bomb_pixels(exc: Exception) -> int | None:
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return int(found.group(1)) if found else None


def _unreadable(name: str, kind: str, data: bytes, exc: BaseException) -> IntakeError:
    """Pillow's and MuPDF's complaints, sorted into cut-short and damaged."""
    text = str(exc).lower()
    if (
        isinstance(exc, EOFError)
        or "truncated" in text
        or "broken data stream" in text
        or not _looks_complete(kind, data)
    ):
        return TruncatedFile(name, detail=str(exc))
    return CorruptFile(name, detail=str(exc))


def _check_pixels(size: tuple[int, int], name: str, limits: Limits, page: int | None = None) -> int:
    pixels = size[0] * size[1]
    if pixels > limits.max_pixels:
        raise TooManyPixels(name, pixels, limits.max_pixels, page=page)
    if pixels == 0:
        raise CorruptFile(name, detail="image has no pixels")
    return pixels


def _load_raster(data: bytes, kind: str, name: str, limits: Limits) -> list[Page]:
    _align_pillow(limits.max_pixels)
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[kind]]) as im:
            if kind == "tiff":
                return _tiff_pages(im, name, limits)
            _check_pixels(im.size, name, limits)
            image, dpi = _decode_single(im, data, kind, exif=True)
            return [Page(image, name, 0, dpi)]
    except IntakeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning only arrives here when warnings are errors; else our own check refuses the same image.
        raise TooManyPixels(name, _bomb_pixels(exc), limits.max_pixels) from exc
    except _PIL_ERRORS as exc:
        raise _unreadable(name, kind, data, exc) from exc
    except cv2.error as exc:
        raise CorruptFile(name, detail=str(exc)) from exc


def _decode_single(im: Image.Image, data: bytes, kind: str, *, exif: bool) -> tuple[np.ndarray, float | None]:
    """One JPEG or PNG image whose header Pillow has read and we have checked.

    A JPEG goes to libjpeg-turbo through simplejpeg, straight into BGR: the same pixels as OpenCV's decoder, bit for
    bit, in 10.6 ms instead of 12.5 (the mean over bench/batch.py's 600 JPEG scans, one core; 4.5 against 7.8 on
    phone photos); OpenCV's decoder, twice as fast as Pillow's, where simplejpeg refuses a file. OpenCV decodes a
    PNG 20 % faster than Pillow. Pillow keeps what both would get wrong or silently accept: CMYK and other modes,
    files cut short, an EXIF block that only follows the pixels.
    """
    if kind == "jpeg":
        orientation = _orientation(im) if exif else 1
        dpi = _jpeg_dpi(im)
        if im.mode in ("RGB", "L") and _looks_complete("jpeg", data):
            decoded = decode_jpeg(data)
            if decoded is not None and decoded.shape[:2] == (im.height, im.width):
                return orient(decoded, orientation), dpi
        im.load()
        return orient(_pil_to_bgr(im), orientation), dpi

    dpi = _sane_dpi(im.info.get("dpi"))
    late_exif = "exif" not in im.info and b"eXIf" in data  # PNG may put EXIF after the pixels: Pillow only
    if not late_exif and _looks_complete("png", data):
        # getexif() on a PNG without EXIF in its header would decode the whole image: ask only when present.
        orientation = _orientation(im) if exif and "exif" in im.info else 1
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is not None and decoded.shape[:2] == (im.height, im.width):
            return orient(_cv_to_bgr(decoded), orientation), dpi
    im.load()
    orientation = _orientation(im) if exif else 1
    return orient(_pil_to_bgr(im), orientation), dpi


def decode_jpeg(data: bytes) -> np.ndarray | None:
    """A baseline or progressive JPEG's pixels as BGR (EXIF orientation not applied); None where it cannot be read."""
    try:
        return simplejpeg.decode_jpeg(data, colorspace="BGR")
    except ValueError:  # libjpeg's complaint (a damaged stream, an unusual colour transform): OpenCV has its say
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)


def _tiff_pages(im: Image.Image, name: str, limits: Limits) -> list[Page]:
    # Walk every directory first (headers only), so that no page is decoded before all are known to fit.
    total = 0
    count = 0
    while True:
        try:
            im.seek(count)
        except EOFError:
            break
        if count >= limits.max_pages:
            raise TooManyPages(name, count + 1, limits.max_pages, at_least=True)
        total += _check_pixels(im.size, name, limits, page=count)
        if total > limits.max_pixels:
            raise TooManyPixels(name, total, limits.max_pixels, total=True)
        count += 1
    pages = []
    for index in range(count):
        im.seek(index)
        tags = getattr(im, "tag_v2", {})
        orientation = int(tags.get(EXIF_ORIENTATION, 1) or 1)
        dpi = _sane_dpi(im.info.get("dpi"))
        im.load()
        pages.append(Page(orient(_pil_to_bgr(im), orientation), name, index, dpi))
    return pages


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(EXIF_ORIENTATION, 1))
    except (ValueError, TypeError, SyntaxError, struct.error, OSError):
        return 1  # a damaged EXIF block must not cost the officer the scan
    return value if 1 <= value <= 8 else 1


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """The image turned upright for an EXIF/TIFF Orientation (1-8), as PIL.ImageOps.exif_transpose does."""
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.transpose(image)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.transpose(image), -1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def _sane_dpi(value: object) -> float | None:
    """A resolution worth believing, or None: scanners write 75-1200 dpi; 0, 1 or 72000 are not real."""
    if value is None:
        return None
    try:
        if isinstance(value, (tuple, list)):
            x, y = float(value[0]), float(value[1])
        else:
            x = y = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return None
    if not all(math.isfinite(v) and MIN_DPI <= v <= MAX_DPI for v in (x, y)):
        return None
    return round((x + y) / 2, 1)


def _jpeg_dpi(im: Image.Image) -> float | None:
    # Read JFIF and EXIF ourselves: Pillow reports 72 dpi for a JPEG whose EXIF has no resolution at all.
    unit = im.info.get("jfif_unit")
    density = im.info.get("jfif_density")
    if unit in (1, 2) and density:
        factor = 2.54 if unit == 2 else 1.0
        return _sane_dpi((density[0] * factor, density[1] * factor))
    try:
        exif = im.getexif()
        x = exif.get(0x011A)
        y = exif.get(0x011B, x)
        unit = exif.get(0x0128, 2)
    except (ValueError, TypeError, SyntaxError, struct.error, OSError):
        return None
    if x is None or unit not in (2, 3):
        return None
    factor = 2.54 if unit == 3 else 1.0
    try:
        return _sane_dpi((float(x) * factor, float(y) * factor))
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Transparent parts become paper-white, as they would print."""
    if alpha.min() == 255:
        return np.ascontiguousarray(color)
    a = alpha.astype(np.uint16)[..., None]
    mixed = (color.astype(np.uint16) * a + 255 * (255 - a) + 127) // 255
    return mixed.astype(np.uint8)


def _cv_to_bgr(image: np.ndarray) -> np.ndarray:
    """What cv2.imdecode(IMREAD_UNCHANGED) gives (gray, gray+alpha, BGR, BGRA; 8 or 16 bits) as BGR uint8."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"unexpected sample type {image.dtype}")
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    channels = image.shape[2]
    if channels == 2:
        return cv2.cvtColor(_on_white(image[..., :1], image[..., 1]), cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return _on_white(image[..., :3], image[..., 3])
    return image


def _pil_to_bgr(im: Image.Image) -> np.ndarray:
    """Any Pillow mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F, ...) as BGR uint8, alpha laid on white."""
    mode = im.mode
    if mode == "RGB":
        return cv2.cvtColor(np.asarray(im), cv2.COLOR_RGB2BGR)
    if mode == "L" and "transparency" not in im.info:
        return cv2.cvtColor(np.asarray(im), cv2.COLOR_GRAY2BGR)
    if mode.startswith("I;16") or mode in ("I", "F"):
        gray = np.asarray(im)
        if mode == "F":
            scale = 255.0 if float(np.nanmax(gray)) <= 1.0 else 1.0
            gray8 = np.clip(np.nan_to_num(gray) * scale, 0, 255).astype(np.uint8)
        elif mode == "I" and int(gray.max()) <= 255:
            gray8 = np.clip(gray, 0, 255).astype(np.uint8)
        else:
            gray8 = (np.clip(gray, 0, 65535).astype(np.uint16) >> 8).astype(np.uint8)
        return cv2.cvtColor(gray8, cv2.COLOR_GRAY2BGR)
    if mode == "1":
        return cv2.cvtColor(np.asarray(im.convert("L")), cv2.COLOR_GRAY2BGR)
    if "A" in mode or "a" in mode or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"))
        return cv2.cvtColor(_on_white(rgba[..., :3], rgba[..., 3]), cv2.COLOR_RGB2BGR)
    return cv2.cvtColor(np.asarray(im.convert("RGB")), cv2.COLOR_RGB2BGR)


# ---------------------------------------------------------------------------------------------------------
# PDF files


@dataclass(frozen=True)
class _PagePlan:
    """How one PDF page becomes pixels: its one image's own (xref > 0), or a rendering (xref == 0)."""

    index: int
    pixels: int
    xref: int = 0
    matrix: pymupdf.Matrix | None = None
    dpi: float | None = None


_PDF_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)
_PLAIN_COLOURSPACES = {"DeviceGray", "DeviceRGB", "DeviceCMYK", "CalGray", "CalRGB", "ICCBased", "Indexed"}


def _load_pdf(data: bytes, name: str, limits: Limits) -> list[Page]:
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except _PDF_ERRORS as exc:
        # MuPDF repairs and opens a PDF that was merely cut short; one it cannot open at all is damaged.
        raise CorruptFile(name, detail=str(exc)) from exc
    with doc:
        if doc.needs_pass:
            raise EncryptedPdf(name)
        # MuPDF quietly rebuilds a damaged file; without its end marker, the file was cut short and pages or
        # pixels are missing.
        if doc.is_repaired and not _looks_complete("pdf", data):
            raise TruncatedFile(name, detail="PDF without its end, repaired")
        try:
            count = doc.page_count
            if count == 0:
                raise CorruptFile(name, detail="PDF with no pages")
            if count > limits.max_pages:
                raise TooManyPages(name, count, limits.max_pages)
            plans = [_plan_page(doc, doc[index], index, name, limits) for index in range(count)]
            total = sum(plan.pixels for plan in plans)
            if total > limits.max_pixels:
                raise TooManyPixels(name, total, limits.max_pixels, total=True)
            return [_execute(doc, plan, name, limits) for plan in plans]
        except IntakeError:
            raise
        except _PDF_ERRORS as exc:
            raise _unreadable(name, "pdf", data, exc) from exc


def _plan_page(doc: pymupdf.Document, page: pymupdf.Page, index: int, name: str, limits: Limits) -> _PagePlan:
    native = _native_image(doc, page)
    if native is not None:
        xref, matrix, width, height, dpi = native
        pixels = _check_pixels((width, height), name, limits, page=index)
        return _PagePlan(index, pixels, xref, matrix, dpi)
    scale = RENDER_DPI / 72
    size = (math.ceil(page.rect.width * scale), math.ceil(page.rect.height * scale))
    return _PagePlan(index, _check_pixels(size, name, limits, page=index), dpi=float(RENDER_DPI))


def _native_image(
    doc: pymupdf.Document, page: pymupdf.Page
) -> tuple[int, pymupdf.Matrix, int, int, float | None] | None:
    """The page's only image if it covers the page squarely (a scanner's PDF): xref, placement, size, dpi."""
    # get_image_info(xrefs=True) would decode each image to hash it (150 ms for an A4 page): match instead
    # the one image drawn with the one image in the page's resources, by size.
    infos = page.get_image_info()
    listed = page.get_images(full=True)
    if len(infos) != 1 or len(listed) != 1:
        return None
    info = infos[0]
    xref, _smask, width, height = (int(v) for v in listed[0][:4])
    if (width, height) != (info["width"], info["height"]) or info.get("has-mask"):
        return None
    if listed[0][5] not in _PLAIN_COLOURSPACES:
        return None  # spot colours, Lab and the like: rendering converts them as a reader would
    if doc.xref_get_key(xref, "ImageMask")[1] == "true" or doc.xref_get_key(xref, "SMask")[0] != "null":
        return None  # a stencil or a transparent image: only rendering shows it as the reader does
    # From the image's unit square (top-left origin, rows downwards) to the page as shown, /Rotate included.
    matrix = pymupdf.Matrix(info["transform"]) * page.rotation_matrix
    if not _axis_aligned(matrix):
        return None
    corners = [pymupdf.Point(x, y) * matrix for x, y in ((0, 0), (1, 0), (0, 1), (1, 1))]
    xs = [p.x for p in corners]
    ys = [p.y for p in corners]
    placed = pymupdf.Rect(min(xs), min(ys), max(xs), max(ys))
    target = page.rect
    tolerance = 0.01 * max(target.width, target.height)
    mine = (placed.x0, placed.y0, placed.x1, placed.y1)
    page_edges = (target.x0, target.y0, target.x1, target.y1)
    if any(abs(a - b) > tolerance for a, b in zip(mine, page_edges, strict=True)):
        return None
    shown_w, shown_h = (width, height) if abs(matrix.a) > abs(matrix.b) else (height, width)
    dpi_x = shown_w * 72 / placed.width
    dpi_y = shown_h * 72 / placed.height
    if abs(dpi_x - dpi_y) > 0.02 * dpi_x:
        return None  # pixels stretched on the page: rendering shows them as intended
    return xref, matrix, width, height, _sane_dpi((dpi_x, dpi_y))


def _axis_aligned(m: pymupdf.Matrix) -> bool:
    scale = max(abs(m.a), abs(m.b), abs(m.c), abs(m.d))
    if scale == 0:
        return False
    eps = 1e-3 * scale
    return (abs(m.b) < eps and abs(m.c) < eps) or (abs(m.a) < eps and abs(m.d) < eps)


def _execute(doc: pymupdf.Document, plan: _PagePlan, name: str, limits: Limits) -> Page:
    if plan.xref and plan.matrix is not None:
        image = _placed(_xref_pixels(doc, plan.xref, name, limits), plan.matrix)
        return Page(image, name, plan.index, plan.dpi)
    pix = doc[plan.index].get_pixmap(dpi=RENDER_DPI, colorspace=pymupdf.csRGB, alpha=False)
    return Page(_pixmap_to_bgr(pix), name, plan.index, plan.dpi)


def _xref_pixels(doc: pymupdf.Document, xref: int, name: str, limits: Limits) -> np.ndarray:
    """An embedded image's pixels as stored; a plain JPEG goes through our own (faster, checked) decoder."""
    plain_jpeg = (
        doc.xref_get_key(xref, "Filter") == ("name", "/DCTDecode")
        and doc.xref_get_key(xref, "Decode")[0] == "null"
        and doc.xref_get_key(xref, "BitsPerComponent")[1] == "8"
    )
    if plain_jpeg:
        raw = doc.xref_stream_raw(xref)
        try:
            with Image.open(io.BytesIO(raw), formats=["JPEG"]) as im:
                if im.mode in ("RGB", "L"):
                    _check_pixels(im.size, name, limits)
                    # PDF readers ignore EXIF orientation inside embedded JPEGs; so do we.
                    return _decode_single(im, raw, "jpeg", exif=False)[0]
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooManyPixels(name, _bomb_pixels(exc), limits.max_pixels) from exc
        except _PIL_ERRORS as exc:
            raise _unreadable(name, "jpeg", raw, exc) from exc
    return _pixmap_to_bgr(pymupdf.Pixmap(doc, xref))


def _pixmap_to_bgr(pix: pymupdf.Pixmap) -> np.ndarray:
    if pix.alpha:
        pix = pymupdf.Pixmap(pix, 0)
    space = pix.colorspace.name if pix.colorspace else ""
    if not ((pix.n == 1 and "Gray" in space) or (pix.n == 3 and "RGB" in space)):
        pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
    width, height, n = pix.width, pix.height, pix.n
    rows = np.frombuffer(pix.samples_mv, np.uint8).reshape(height, pix.stride)
    samples = rows[:, : width * n].reshape(height, width, n)
    code = cv2.COLOR_GRAY2BGR if n == 1 else cv2.COLOR_RGB2BGR
    return cv2.cvtColor(samples, code)  # a copy: the pixmap's memory is not ours to keep


def _placed(image: np.ndarray, m: pymupdf.Matrix) -> np.ndarray:
    """The image as it appears on the displayed page: flipped and turned as its placement matrix says."""
    if abs(m.a) > abs(m.b):
        if m.a < 0:
            image = cv2.flip(image, 1)
        if m.d < 0:
            image = cv2.flip(image, 0)
        return image
    # Rows run along the page's x axis: transpose, then flip as the signs say.
    image = cv2.transpose(image)
    if m.c < 0:
        image = cv2.flip(image, 1)
    if m.b < 0:
        image = cv2.flip(image, 0)
    return image
