"""The storage folder: scans, attachments and card images on disk, private to the service, named by content."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from sqlmodel import Session

from forms.models import StoredFile

EXTENSIONS = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif"}


def _private_dir(path: Path) -> None:
    # A folder already there and already private (every file but the first of its folder) needs no mkdir and no
    # chmod: one stat instead of three calls into the file system.
    with contextlib.suppress(FileNotFoundError):
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode) and stat.S_IMODE(mode) == 0o700:
            return
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def save_bytes(
    root: Path, data: bytes, *, kind: str, name: str, content_type: str, sha256: str | None = None
) -> tuple[str, str]:
    """Write `data` under `root` (0o600, written to a temporary name then renamed) unless it is there already.

    Returns the path relative to `root` and the SHA-256. Writing before opening a transaction keeps disk time out
    of it (on SQLite a transaction holds the database's write lock); `file_record` then only records the file.
    `sha256` is for a caller that has just checked `data` against its SHA-256: it names the file, and is not
    computed again; a wrong one would file the bytes under another content's name.
    """
    digest = sha256 or hashlib.sha256(data).hexdigest()
    extension = EXTENSIONS.get(content_type, Path(name).suffix.lower()[:8] or ".bin")
    relative = Path(kind) / digest[:2] / f"{digest}{extension}"
    target = root / relative
    _private_dir(root)
    _private_dir(target.parent)
    if not target.exists():
        # Same content, same name: a second upload of one scan costs no space and cannot clash.
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temporary, 0o600)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return relative.as_posix(), digest


def store_file(
    session: Session,
    root: Path,
    data: bytes,
    *,
    kind: str,
    name: str,
    content_type: str,
    request_id: int | None = None,
) -> StoredFile:
    """Write `data` under `root` (see `save_bytes`) and record it."""
    relative, digest = save_bytes(root, data, kind=kind, name=name, content_type=content_type)
    record = file_record(relative, digest, data, kind=kind, name=name, content_type=content_type,
                         request_id=request_id)  # fmt: skip
    session.add(record)
    session.flush()
    return record


def file_record(
    relative: str,
    digest: str,
    data: bytes,
    *,
    kind: str,
    name: str,
    content_type: str,
    request_id: int | None = None,
) -> StoredFile:
    """The record of `data` that `save_bytes` wrote (its path and SHA-256), not yet added to any session.

    For a caller that saved its files before the transaction: recording them costs no second hash and no second
    look at the disk, and several records can go to the database in one flush.
    """
    return StoredFile(
        kind=kind,
        request_id=request_id,
        path=relative,
        name=Path(name).name[:255] or "scan",
        content_type=content_type,
        size=len(data),
        sha256=digest,
    )


def read_stored(root: Path, record: StoredFile) -> bytes:
    """The file's bytes; refuses a path that would leave the storage folder."""
    path = (root / record.path).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ValueError("stored path outside the storage folder")
    return path.read_bytes()
