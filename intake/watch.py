"""The station's scans: each read as it lands (scan folder or scanner), recorded for the counter page, filed away.

The way through, for `motcua watch DIR`:

1. `FolderWatcher.poll`, every half second: a file is taken once its size and modification time have stayed the
   same for `settle` seconds (scanner software writes a page in bursts). Hidden and temporary names are left
   alone: software that writes under such a name and renames at the end is simply waited for. Polling is the
   periodic rescan itself, and works where inotify does not (network shares, files copied in by other machines).
2. `Station.record`: the cards are found and read as at the counter. A station scans one side per file, front
   then back: a file with one side is paired with the station's previous scan when that holds the other side of
   a card, came within `pair_window` seconds and shows no other ID number; the reading and the PDF then cover
   both sides. The scan, its card sides and the PDF go to the storage folder; one `station_scan` row records it,
   which is what the counter page polls for (and takes without reading again).
3. The file is moved to `done/` or `failed/` beside it (a clash gets a suffix); a failed one gets a `.txt` note
   saying why, in the officer's words. The row is written before the move and marked after it, so a watcher
   stopped in between finishes the move on restart instead of reading the file a second time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from forms.models import StationScan, utcnow
from forms.rules import mask_id_number
from forms.storage import save_bytes
from intake.batch_pairing import numbers_agree, read_side_numbers
from intake.cards import CardImage
from intake.counter import CitizenIntake, intake_sides
from intake.errors import FileTooLarge, IntakeError, TruncatedFile
from intake.load import DEFAULT_LIMITS, load_pages, sniff
from intake.messages import intake_message
from intake.pipeline import CardSides, pair_sides, straighten
from ocr.classify import OcrEngine

log = logging.getLogger("motcua.watch")

SETTLE_S = 1.5
INTERVAL_S = 0.5
PAIR_WINDOW_S = 90.0  # front, turn the card over, back: well under a minute and a half at any counter
# A file that reads as cut short may be a scanner pausing mid-page longer than `settle`: it gets this long to grow.
TRUNCATED_GRACE_S = 15.0
RETRY_S = 10.0  # after an unexpected failure (the database away, a full disk): the file is tried again
DONE, FAILED = "done", "failed"
LOCK = ".motcua-watch.lock"
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "pdf": "application/pdf"}
_TEMPORARY_SUFFIXES = (".part", ".tmp", ".temp", ".partial", ".crdownload", ".download", ".swp")
_SYSTEM_NAMES = ("thumbs.db", "desktop.ini")
SIDE_WORDS = {"front": "mặt trước", "back": "mặt sau", "unknown": "một mặt"}
_SIDE_ORDER = ("front", "back", "unknown")


def ignored(name: str) -> bool:
    """Names the watcher leaves alone: hidden, temporary (still being written), or the system's own files."""
    lower = name.lower()
    return name.startswith(".") or name.endswith("~") or lower.endswith(_TEMPORARY_SUFFIXES) or lower in _SYSTEM_NAMES


def default_station_name() -> str:
    """The machine's name: the watcher and the counter's [Quét] on one machine are one station."""
    return socket.gethostname()[:100] or "station"


def find_sides(name: str, data: bytes, engine: OcrEngine | None = None) -> list[CardImage]:
    """Every card side in one file, straightened and classified; the intake's errors as raised."""
    cards: list[CardImage] = []
    for page in load_pages(data, name=name):
        cards += straighten(page, engine)
    return cards


def _ref(relative: str, digest: str, size: int, name: str, content_type: str) -> dict[str, Any]:
    """A file in the storage folder, as the counter records it when it takes the scan (forms.models.StoredFile)."""
    return {"path": relative, "sha256": digest, "size": size, "name": name, "content_type": content_type}


class Station:
    """One counter's station: reads a scan, pairs it with the previous one, records it for the counter page.

    Shared by the folder watcher (`motcua watch`) and the counter page's [Quét]. Keeps its own OCR engine: one
    Station is used by one thread at a time.
    """

    def __init__(
        self,
        engine: Engine,
        storage: Path,
        *,
        name: str | None = None,
        unit_id: int | None = None,
        pair_window: float = PAIR_WINDOW_S,
        ocr: OcrEngine | None = None,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.name = name or default_station_name()
        self.unit_id = unit_id
        self.pair_window = pair_window
        self._ocr = ocr
        # The last few one-sided scans' cards, so that pairing the back does not find the front again.
        self._open_sides: OrderedDict[int, CardImage] = OrderedDict()

    @property
    def ocr(self) -> OcrEngine:
        if self._ocr is None:
            from ocr.engine import get_engine

            self._ocr = get_engine()
        return self._ocr

    def record(self, name: str, data: bytes, *, source: str, request_id: int | None = None) -> StationScan:
        """Read one scan and record it, whatever it holds: a failure is recorded with its reason.

        `request_id`: the request the scan is for ([Quét] on its page), recorded as taken by it from the start, so
        that no other counter page takes it by itself in the moment before this one does.
        """
        try:
            cards = find_sides(name, data, self.ocr)
        except IntakeError as error:
            return self.record_failure(name, data, error, source=source, request_id=request_id)
        return self.record_cards(name, data, cards, source=source, request_id=request_id)

    def record_failure(
        self,
        name: str,
        data: bytes | None,
        error: IntakeError,
        *,
        source: str,
        sha256: str = "",
        size: int = 0,
        request_id: int | None = None,
    ) -> StationScan:
        """A scan that gave no card: its reason, in the officer's words."""
        row = StationScan(
            station=self.name,
            unit_id=self.unit_id,
            request_id=request_id,
            source=source,
            name=Path(name).name[:255],
            sha256=hashlib.sha256(data).hexdigest() if data is not None else sha256,
            size=len(data) if data is not None else size,
            status="failed",
            error=intake_message(error, Path(name).name)[:500],
        )
        return self._insert(row)

    def record_cards(
        self, name: str, data: bytes, cards: list[CardImage], *, source: str, request_id: int | None = None
    ) -> StationScan:
        """A scan with at least one card side: read (with the previous scan's side if it completes a card)."""
        name = Path(name).name[:255]
        partner: StationScan | None = None
        sides: CardSides | None = None
        if len(cards) == 1:
            found = self._open_side()
            # Two sides whose numbers (QR, MRZ, the front's print) differ are two citizens' cards, not one.
            if found is not None and self._may_be_one_card(found[1], cards[0]):
                pairs = pair_sides([found[1], cards[0]])
                if len(pairs) == 1 and pairs[0].front is not None and pairs[0].back is not None:
                    partner, sides = found[0], pairs[0]
        warnings: list[str] = []
        if sides is None:
            pairs = pair_sides(cards)
            sides = pairs[0]
            warnings = list(sides.warnings)
            if len(pairs) > 1:
                warnings.append(f"The scan holds {len(pairs)} cards; only the first was read.")
        result = intake_sides(sides, self.ocr, warnings=warnings)
        reading = self._store(name, data, result, partner)
        row = StationScan(
            station=self.name,
            unit_id=self.unit_id,
            request_id=request_id,
            source=source,
            name=name,
            sha256=reading["files"]["scans"][-1]["sha256"],
            size=len(data),
            path=reading["files"]["scans"][-1]["path"],
            status="ok",
            sides=",".join(sorted((card.side for card in cards), key=_SIDE_ORDER.index))[:20],
            document_type=result.reading.document_type,
            partner_id=partner.id if partner else None,
            reading=json.dumps(reading, ensure_ascii=False),
        )
        row = self._insert(row)
        if len(cards) == 1 and partner is None and row.id is not None:
            self._open_sides[row.id] = cards[0]
            while len(self._open_sides) > 4:
                self._open_sides.popitem(last=False)
        return row

    def _may_be_one_card(self, earlier: CardImage, later: CardImage) -> bool:
        return numbers_agree(read_side_numbers(earlier, self.ocr), read_side_numbers(later, self.ocr)) is not False

    def _store(self, name: str, data: bytes, result: CitizenIntake, partner: StationScan | None) -> dict[str, Any]:
        """The files into the storage folder (content-addressed: a repeat costs nothing) and the reading to keep."""
        scans = []
        if partner is not None and partner.path:
            scans.append(_ref(partner.path, partner.sha256, partner.size, partner.name, "application/octet-stream"))
        content_type = CONTENT_TYPES.get(sniff(data) or "", "application/octet-stream")
        relative, digest = save_bytes(self.storage, data, kind="scan", name=name, content_type=content_type)
        scans.append(_ref(relative, digest, len(data), name, content_type))
        cards = {}
        for side, jpeg in result.side_jpegs.items():
            relative, digest = save_bytes(
                self.storage, jpeg, kind="card", name=f"{side}.jpg", content_type="image/jpeg"
            )
            cards[side] = _ref(relative, digest, len(jpeg), f"{side}.jpg", "image/jpeg")
        relative, digest = save_bytes(
            self.storage, result.pdf, kind="attachment", name="CCCD.pdf", content_type="application/pdf"
        )
        return {
            "document_type": result.reading.document_type,
            "card": result.reading.to_json(),
            "prefill": {field: proposed.to_json() for field, proposed in result.prefill.items()},
            "warnings": result.warnings,
            "files": {
                "scans": scans,
                "cards": cards,
                "attachment": _ref(relative, digest, len(result.pdf), "CCCD.pdf", "application/pdf"),
            },
        }

    def _open_side(self) -> tuple[StationScan, CardImage] | None:
        """The station's newest readable scan, if it holds one side alone, is recent, and nothing completed it yet."""
        since = utcnow() - timedelta(seconds=self.pair_window)
        with Session(self.engine, expire_on_commit=False) as session:
            newest = session.exec(
                select(StationScan)
                .where(StationScan.station == self.name, StationScan.status == "ok")
                .order_by(col(StationScan.id).desc())
                .limit(1)
            ).first()
            completed = newest is not None and (
                newest.partner_id is not None
                or session.exec(select(StationScan.id).where(StationScan.partner_id == newest.id)).first() is not None
            )
            session.commit()  # ends the read: on SQLite a transaction holds the write lock (forms.db)
        if newest is None or newest.id is None or completed or newest.created_at < since or "," in newest.sides:
            return None
        card = self._open_sides.get(newest.id)
        if card is None and newest.path:
            # Recorded by another process (the watcher, or the counter's [Quét]) or before a restart: find it again.
            try:
                found = find_sides(newest.name, self._stored(newest.path), self.ocr)
            except (IntakeError, OSError, ValueError):
                return None
            card = found[0] if len(found) == 1 else None
        return (newest, card) if card is not None else None

    def _stored(self, relative: str) -> bytes:
        path = (self.storage / relative).resolve()
        if not path.is_relative_to(self.storage.resolve()):
            raise ValueError("stored path outside the storage folder")
        return path.read_bytes()

    def _insert(self, row: StationScan) -> StationScan:
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(row)
            session.commit()
            session.refresh(row)
        return row

    def mark_moved(self, row: StationScan, target: Path) -> None:
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.get(StationScan, row.id)
            if found is not None:
                found.moved_to = str(target)[:1000]
                session.add(found)
            session.commit()

    def pending(self, name: str, sha256: str) -> StationScan | None:
        """A scan of this folder recorded but not yet moved (the watcher stopped in between), if any."""
        with Session(self.engine, expire_on_commit=False) as session:
            found = session.exec(
                select(StationScan).where(
                    StationScan.station == self.name,
                    StationScan.source == "folder",
                    StationScan.name == name[:255],
                    StationScan.sha256 == sha256,
                    col(StationScan.moved_to).is_(None),
                )
            ).first()
            session.commit()
        return found


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float  # when the file was first seen as it is now
    not_before: float = 0.0  # a retry's earliest time
    truncated_since: float | None = None


@dataclass
class Outcome:
    """What became of one file of the folder."""

    name: str
    scan: StationScan
    moved_to: Path


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def free_name(folder: Path, name: str, *, note: bool = False) -> Path:
    """`folder/name`, or `name-1`, `name-2`, ... before the suffix when taken (with its `.txt` note, if wanted)."""
    stem, suffix = Path(name).stem, Path(name).suffix
    for number in range(100_000):
        candidate = folder / (name if number == 0 else f"{stem}-{number}{suffix}")
        if not candidate.exists() and not (note and candidate.with_name(candidate.name + ".txt").exists()):
            return candidate
    raise FileExistsError(f"no free name for {name} in {folder}")


def _write_note(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".note-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class FolderWatcher:
    """Watches one scan folder: every file, once it has stopped growing, through `Station.record` and filed away."""

    def __init__(
        self,
        folder: Path,
        station: Station,
        *,
        settle: float = SETTLE_S,
        interval: float = INTERVAL_S,
        truncated_grace: float = TRUNCATED_GRACE_S,
        clock: Callable[[], float] = time.monotonic,
        on_outcome: Callable[[Outcome], None] | None = None,
    ) -> None:
        self.folder = folder
        self.station = station
        self.settle = settle
        self.interval = interval
        self.truncated_grace = truncated_grace
        self.clock = clock
        self.on_outcome = on_outcome
        self._seen: dict[str, _Seen] = {}

    def run(self, stop: threading.Event | None = None) -> None:
        """Poll until `stop` is set (or forever); one bad file or a passing failure never ends the loop."""
        stop = stop or threading.Event()
        for folder in (self.folder / DONE, self.folder / FAILED):
            folder.mkdir(parents=True, exist_ok=True)
        while not stop.is_set():
            self.poll()
            stop.wait(self.interval)

    def drain(self, timeout: float = 300.0) -> list[Outcome]:
        """Poll until every file there has been taken (or `timeout` seconds pass): `motcua watch --once`."""
        deadline = self.clock() + timeout
        outcomes = self.poll()
        while self._seen and self.clock() < deadline:
            time.sleep(self.interval)
            outcomes += self.poll()
        return outcomes

    def poll(self) -> list[Outcome]:
        """One look at the folder: every file settled since the last look is taken."""
        now = self.clock()
        present: dict[str, tuple[int, int]] = {}
        try:
            entries = list(os.scandir(self.folder))
        except OSError as error:  # a network share gone for a moment: the next look tries again
            log.warning("%s: %s", self.folder, error)
            return []
        for entry in entries:
            try:
                if ignored(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            present[entry.name] = (stat.st_size, stat.st_mtime_ns)
        for name in set(self._seen) - set(present):
            del self._seen[name]
        outcomes = []
        for name in sorted(present, key=lambda n: (present[n][1], n)):  # oldest first: front before back
            size, mtime_ns = present[name]
            seen = self._seen.get(name)
            if seen is None or (seen.size, seen.mtime_ns) != (size, mtime_ns):
                self._seen[name] = _Seen(size, mtime_ns, now, truncated_since=seen.truncated_since if seen else None)
                continue
            if now - seen.since < self.settle or now < seen.not_before:
                continue
            try:
                outcome = self._take(self.folder / name, seen, now)
            except Exception:  # the database away, a full disk: say so, keep the file, try again later
                log.exception("%s: not processed; will try again in %.0f s", name, RETRY_S)
                seen.not_before = now + RETRY_S
                continue
            if outcome is not None:
                self._seen.pop(name, None)
                outcomes.append(outcome)
                if self.on_outcome:
                    self.on_outcome(outcome)
        return outcomes

    def _take(self, path: Path, seen: _Seen, now: float) -> Outcome | None:
        station = self.station
        if seen.size > DEFAULT_LIMITS.max_bytes:
            # Not read into memory: refused by its size alone.
            digest = file_sha256(path)
            row = station.pending(path.name, digest) or station.record_failure(
                path.name, None, FileTooLarge(path.name, seen.size, DEFAULT_LIMITS.max_bytes),
                source="folder", sha256=digest, size=seen.size,
            )  # fmt: skip
            return self._file(path, row)
        data = path.read_bytes()
        if len(data) != seen.size or path.stat().st_mtime_ns != seen.mtime_ns:
            return None  # changed while being read: seen anew on the next look
        digest = hashlib.sha256(data).hexdigest()
        pending = station.pending(path.name, digest)
        if pending is not None:
            return self._file(path, pending)
        try:
            cards = find_sides(path.name, data, station.ocr)
        except TruncatedFile as error:
            if seen.truncated_since is None:
                seen.truncated_since = now
            if now - seen.truncated_since < self.truncated_grace:
                seen.not_before = now + self.settle  # a scanner pausing mid-page: give it time to finish
                return None
            row = station.record_failure(path.name, data, error, source="folder")
        except IntakeError as error:
            row = station.record_failure(path.name, data, error, source="folder")
        else:
            if path.stat().st_mtime_ns != seen.mtime_ns:
                return None  # written to while being read: the reading is of a file that is no more
            row = station.record_cards(path.name, data, cards, source="folder")
        return self._file(path, row)

    def _file(self, path: Path, row: StationScan) -> Outcome:
        """Move the file to done/ or failed/ (a failed one with its note), then mark the row moved."""
        failed = row.status != "ok"
        folder = self.folder / (FAILED if failed else DONE)
        folder.mkdir(parents=True, exist_ok=True)
        target = free_name(folder, path.name, note=failed)
        if failed:
            _write_note(target.with_name(target.name + ".txt"), row.error or "Không xử lý được tệp này.")
        os.rename(path, target)  # one folder, one file system: atomic; the watcher is the folder's only mover
        self.station.mark_moved(row, target)
        return Outcome(path.name, row, target)


@contextlib.contextmanager
def only_watcher(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for as long as the watcher runs: two watchers would read every file twice."""
    handle = (folder / LOCK).open("a")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise WatchError(f"{folder} is watched by another motcua watch already") from error
        yield
    finally:
        handle.close()


class WatchError(Exception):
    """The folder cannot be watched (missing, or watched already)."""


def describe(row: StationScan) -> str:
    """One line for the log and the command line, in the officer's words."""
    if row.status != "ok":
        return row.error or "lỗi"
    sides = row.sides.split(",") if row.sides else []
    if len(sides) >= 2:
        what = "hai mặt"
    else:
        what = SIDE_WORDS.get(sides[0], "một mặt") if sides else "một mặt"
        if row.partner_id:
            what += f", ghép với bản quét #{row.partner_id}: đủ hai mặt"
    prefill = json.loads(row.reading or "{}").get("prefill", {})
    number = (prefill.get("id_number") or {}).get("value")
    # Logs keep no whole ID number (as the audit trail): the last four digits tell the officer which card it was.
    return f"{what} ({row.document_type}){', số ' + mask_id_number(number) if number else ''}"
