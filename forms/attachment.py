"""The scanned-card attachment rule: a doc, docx or pdf file by its content, not its name, of at most 5 MB."""

from __future__ import annotations

import io
import struct
import zipfile

import pymupdf

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024  # the seed: "Dung lượng không vượt quá 5MB"

CONTENT_TYPES: dict[str, str] = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}

_NOT_ALLOWED = "Tệp đính kèm phải là doc, docx hoặc pdf"

_OLE_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
_OLE_END_OF_CHAIN = 0xFFFFFFFE
_OLE_NO_STREAM = 0xFFFFFFFF
_OLE_STREAM = 2
_DIR_ENTRY = 128


class AttachmentError(ValueError):
    """An attachment the portal would refuse; the message is for the officer."""


def sniff_attachment(data: bytes) -> str:
    """ "pdf", "doc" or "docx", decided by the bytes; AttachmentError for anything else, empty or over 5 MB."""
    if not data:
        raise AttachmentError("Tệp đính kèm rỗng")
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(f"Tệp đính kèm vượt quá 5MB ({len(data) / (1024 * 1024):.1f}MB)")
    if data.startswith(b"%PDF-"):
        _check_pdf(data)
        return "pdf"
    if data.startswith(_OLE_MAGIC):
        # Excel, PowerPoint and password-protected docx files are OLE2 containers too, without a WordDocument.
        if not _ole_has_word_document(data):
            raise AttachmentError(f"{_NOT_ALLOWED}: tệp Office này không phải văn bản Word")
        return "doc"
    if data.startswith(b"PK\x03\x04"):
        if not _is_docx(data):
            raise AttachmentError(f"{_NOT_ALLOWED}: tệp nén này không phải văn bản Word (docx)")
        return "docx"
    raise AttachmentError(_NOT_ALLOWED)


def _check_pdf(data: bytes) -> None:
    try:
        with pymupdf.open(stream=data, filetype="pdf") as doc:
            encrypted = doc.needs_pass or doc.is_encrypted or bool((doc.metadata or {}).get("encryption"))
            pages = 0 if encrypted else doc.page_count
    # MuPDF reports a damaged file through several exception types; any of them means the portal cannot open it.
    except Exception as exc:
        raise AttachmentError(f"{_NOT_ALLOWED}: tệp PDF bị hỏng, không mở được") from exc
    if encrypted:
        # An officer at the portal cannot open a locked scan, and permissions-only encryption is refused too.
        raise AttachmentError("Tệp PDF đính kèm có mật khẩu hoặc bị mã hóa: hãy đính kèm bản không khóa")
    if pages < 1:
        raise AttachmentError(f"{_NOT_ALLOWED}: tệp PDF không có trang nào")


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    # zipfile raises BadZipFile, but also OSError, EOFError and ValueError on truncated or crafted archives.
    except Exception:
        return False
    return {"word/document.xml", "[Content_Types].xml"} <= names


def _ole_has_word_document(data: bytes) -> bool:
    """Whether a compound file's root storage holds a stream named WordDocument (what makes it a .doc)."""
    try:
        return "WordDocument" in _ole_root_streams(data)
    except (struct.error, IndexError, ValueError):
        return False


def _ole_root_streams(data: bytes) -> set[str]:
    """Names of the streams directly under a compound file's root, read from its directory (MS-CFB)."""
    # The directory may sit anywhere in the file (Word often writes it last), so it is found through the FAT
    # rather than by searching the first bytes for the name.
    (sector_shift,) = struct.unpack_from("<H", data, 30)
    if sector_shift not in (9, 12):
        raise ValueError("not a compound file sector size")
    sector_size = 1 << sector_shift
    fat_sectors, first_dir = struct.unpack_from("<II", data, 44)
    # The header lists the first 109 FAT sectors: enough for 109 * 128 * 512 bytes, more than the 5 MB allowed.
    difat = struct.unpack_from("<109I", data, 76)[: min(fat_sectors, 109)]
    fat: list[int] = []
    for sector in difat:
        start = (sector + 1) * sector_size
        chunk = data[start : start + sector_size]
        fat.extend(struct.unpack(f"<{len(chunk) // 4}I", chunk[: len(chunk) // 4 * 4]))

    directory = bytearray()
    sector, seen = first_dir, set()
    while sector != _OLE_END_OF_CHAIN and sector < len(fat) and sector not in seen:  # a loop in the chain ends it
        seen.add(sector)
        start = (sector + 1) * sector_size
        directory += data[start : start + sector_size]
        sector = fat[sector]

    def entry(index: int) -> tuple[str, int, int, int, int]:
        offset = index * _DIR_ENTRY
        if offset + _DIR_ENTRY > len(directory):
            raise IndexError("directory entry outside the directory")
        (name_bytes,) = struct.unpack_from("<H", directory, offset + 64)
        name = bytes(directory[offset : offset + max(0, min(name_bytes, 64) - 2)]).decode("utf-16-le", "replace")
        kind = directory[offset + 66]
        left, right, child = struct.unpack_from("<3I", directory, offset + 68)
        return name, kind, left, right, child

    # The root's children form a tree linked by left and right siblings; walk it without recursion.
    streams: set[str] = set()
    pending, visited = [entry(0)[4]], set()
    while pending:
        index = pending.pop()
        if index == _OLE_NO_STREAM or index in visited:
            continue
        visited.add(index)
        name, kind, left, right, _ = entry(index)
        if kind == _OLE_STREAM:
            streams.add(name)
        pending += [left, right]
    return streams
