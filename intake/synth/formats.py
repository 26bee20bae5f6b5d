"""Encoding synthetic pages as the files scanners and phones write: JPEG, PNG, TIFF, PDF."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import img2pdf
import numpy as np
from PIL import Image

EXIF_ORIENTATION_TAG = 0x0112


class EncodeError(RuntimeError):
    """An image could not be encoded."""


def _jfif_with_density(data: bytes, dpi: int | None) -> bytes:
    """Set the JFIF header's density (libjpeg via OpenCV writes 1:1 without units)."""
    if dpi is None:
        return data
    if data[2:4] != b"\xff\xe0" or data[6:11] != b"JFIF\x00":
        raise EncodeError("JPEG has no JFIF header to carry its resolution")
    return data[:13] + struct.pack(">BHH", 1, dpi, dpi) + data[18:]


def _insert_exif(data: bytes, exif: bytes) -> bytes:
    """Insert an APP1 Exif segment after the JFIF APP0 segment."""
    app0_length = struct.unpack(">H", data[4:6])[0]
    insert_at = 4 + app0_length
    segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif
    return data[:insert_at] + segment + data[insert_at:]


def stored_for_orientation(displayed: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a file must store so that, turned per its EXIF Orientation, they show `displayed`."""
    if orientation == 1:
        return displayed
    if orientation == 3:
        return np.ascontiguousarray(displayed[::-1, ::-1])
    if orientation == 6:  # viewers turn the stored image 90° clockwise
        return np.ascontiguousarray(np.rot90(displayed, 1))
    if orientation == 8:  # viewers turn it 90° counterclockwise
        return np.ascontiguousarray(np.rot90(displayed, -1))
    raise EncodeError(f"orientation {orientation} is not a rotation we write")


def jpeg_bytes(image: np.ndarray, quality: int, dpi: int | None = None, orientation: int = 1) -> bytes:
    """A baseline JPEG (4:2:0) with its resolution in JFIF and, if turned, an EXIF Orientation."""
    stored = stored_for_orientation(image, orientation)
    ok, buffer = cv2.imencode(".jpg", stored, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise EncodeError("JPEG encoding failed")
    data = _jfif_with_density(buffer.tobytes(), dpi)
    if orientation != 1:
        exif = Image.Exif()
        exif[EXIF_ORIENTATION_TAG] = orientation
        data = _insert_exif(data, exif.tobytes())
    return data


def png_bytes(image: np.ndarray, dpi: int | None = None) -> bytes:
    """A PNG with a pHYs chunk for its resolution."""
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise EncodeError("PNG encoding failed")
    data = buffer.tobytes()
    if dpi is None:
        return data
    per_metre = round(dpi / 0.0254)
    body = b"pHYs" + struct.pack(">IIB", per_metre, per_metre, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    return data[:ihdr_end] + chunk + data[ihdr_end:]


def tiff_bytes(pages: list[np.ndarray], dpi: int, compression: str, quality: int = 85) -> bytes:
    """A multi-page TIFF, JPEG- or deflate-compressed, each page tagged with its resolution."""
    codec = {"jpeg": "tiff_jpeg", "deflate": "tiff_adobe_deflate"}[compression]
    images = [Image.fromarray(page if page.ndim == 2 else np.ascontiguousarray(page[..., ::-1])) for page in pages]
    out = io.BytesIO()
    options: dict[str, object] = {"compression": codec, "dpi": (dpi, dpi)}
    if compression == "jpeg":
        options["quality"] = quality
    images[0].save(out, format="TIFF", save_all=True, append_images=images[1:], **options)
    return out.getvalue()


def pdf_bytes(jpeg_pages: list[bytes]) -> bytes:
    """A PDF whose pages are the JPEGs as they are (no re-encoding), sized by their JFIF resolution."""
    # The internal engine writes the same bytes every run; the pikepdf one (img2pdf 0.6 with pikepdf >= 10)
    # misses pikepdf's deterministic-ID option through a string version compare and writes a random /ID.
    data = img2pdf.convert(jpeg_pages, nodate=True, engine=img2pdf.Engine.internal)
    if data is None:
        raise EncodeError("img2pdf produced nothing")
    return bytes(data)
