"""Batches: a folder of scans to one PDF, one results line and one draft per card; parallel, resumable, exactly once.

The way through, for `motcua batch DIR --out OUTDIR`:

1. `take_inventory`: every file under DIR, identified by its SHA-256; what is not a scan is set aside and said so.
2. What the database already holds (`batch_side`, one row per card side dealt with) is left out: a rerun, or a run
   after a crash, does only what is missing.
3. Files whose names pair (`intake.batch_pairing.pair_by_name`) go to a `GroupJob`; every other file to a
   `SurveyJob`, which finds its cards and finishes at once the cards whose two sides are in the file; the sides it
   leaves are paired across files (`pair_loose_sides`: by number, then consecutive names, then order) into
   `CardsJob`s.
4. Each job runs in a worker process (`process_job`, a plain function), of a local pool (`Runner`) or a Celery
   worker on any machine (`intake.tasks.CeleryRunner`; jobs and results cross the queue as JSON), within a time
   limit (`JOB_TIMEOUT`): a job over it has its process killed and replaced, and is reported for the next run,
   so one file that hangs a library never stalls the batch. Per card, in
   this order: the scans, card images and PDF into the storage folder (content-addressed, so a repeat costs
   nothing); one transaction with the draft, the item and its sides (the sides' primary key refuses a second
   record of any of them); then `OUTDIR/<name>.pdf`, written under a temporary name and renamed (by the parent,
   from the storage folder, when the worker does not see OUTDIR). The parent, the only writer of
   `results.jsonl`, appends the item's line.
5. `reconcile_outputs`, before and after: the database is the record of what is done. `results.jsonl` gets exactly
   one line per item (a torn or foreign line dropped, a missing one added) and every PDF is restored from the
   storage folder if a crash came between the commit and the rename.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import dataclasses
import fcntl
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import re
import resource
import signal
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_for
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import cv2
import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from forms.accounts import audit
from forms.db import make_engine, upgrade
from forms.models import AccountRequest, Batch, BatchItem, BatchSide, StoredFile, Unit
from forms.storage import file_record, read_stored, save_bytes
from intake.batch_pairing import (
    LooseSide,
    SideNumber,
    numbers_agree,
    pair_by_name,
    pair_loose_sides,
    read_side_numbers,
)
from intake.cards import CARD_SIZE, CardImage, find_cards, rotate_half_turn, warp_card
from intake.counter import CitizenIntake, intake_sides
from intake.errors import FileTooLarge, IntakeError, NoCardFound
from intake.load import DEFAULT_LIMITS, decode_jpeg, load_pages, sniff
from intake.messages import (
    CHANGED,
    CRASHED,
    DUPLICATE,
    ONLY_BACK,
    ONLY_FRONT,
    ONLY_ONE_SIDE,
    TIMED_OUT,
    UNEXPECTED,
    intake_message,
    seconds_words,
)
from intake.pipeline import CardSides, pair_as_one, pair_sides, settle_orientation
from ocr.engine import get_engine

log = logging.getLogger("motcua.batch")

RESULTS = "results.jsonl"
REPORT = "report.csv"
LOCK = ".motcua-batch.lock"
CONTENT_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff", "pdf": "application/pdf"}
_HEAD = 1024  # what `sniff` looks at
_COMMIT_ATTEMPTS = 20  # a PDF name or a side taken by a concurrent worker: try again, each time seeing more
_ID_NUMBER = re.compile(r"\d{9}|\d{12}")
# Seconds one job may run before its worker is killed: a card takes about a second, a 20-page PDF of cards well
# under a minute, even on a loaded machine; a job still running after two minutes is stuck, not slow.
JOB_TIMEOUT = 120.0
STARTUP_S = 120.0  # a worker loads its models in a few seconds; one not ready by then is stuck
HANG = "MOTCUA_JOB_HANG"  # the tests' hook for a job that never ends (see `_hang_if_named`)

# What report.csv says of an item, in the officer's words.
STATUS_WORDS = {
    "ok": "Đạt",
    "partial": "Thiếu mặt",
    "failed": "Lỗi",
    "skipped": "Bỏ qua",
    "retry": "Lỗi, sẽ thử lại",
}
REPORT_HEADER = ("Tệp", "Tình trạng", "Lý do", "Số CMND/CCCD", "Tệp PDF")


# ---------------------------------------------------------------------------------------------------------
# Values that cross the process boundary: plain, picklable for the local pool, and with a JSON form for a queue
# (a queue's message is data, never pickle: unpickling runs whatever code the message names).


@dataclass(frozen=True)
class ScanFile:
    """One file of the scanned folder: where it is, its name relative to the folder, its content's identity."""

    path: str
    name: str
    sha256: str
    size: int
    order: int = 0  # position in the folder's sorted listing
    stored: str | None = None  # a copy in the storage folder (relative to it), for workers that do not see `path`

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanFile:
        return cls(**data)


@dataclass(frozen=True)
class BatchContext:
    """What a worker needs to record a card: the batch, where outputs go, the storage folder and the database."""

    batch_id: int
    batch_name: str
    out_dir: str
    storage: str
    database_url: str
    unit_id: int | None = None
    write_pdfs: bool = True  # False: the worker does not see `out_dir`; the parent copies each PDF from storage

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchContext:
        return cls(**data)


@dataclass(frozen=True)
class CardMeta:
    """Where a card side lies in its file and what the classifier made of it: enough to cut it out again."""

    page: int
    card: int
    corners: tuple[tuple[float, float], ...]  # the outline as found on the page (before any half turn)
    turned: bool  # whether the warped card had to be turned half a turn to be upright
    side: str
    document_type: str
    orientation_confidence: float
    evidence: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardMeta:
        corners = tuple((float(x), float(y)) for x, y in data["corners"])
        return cls(**{**data, "corners": corners, "evidence": tuple(data["evidence"])})

    def card_image(self, upright: np.ndarray, source: str) -> CardImage:
        """The side as the survey made it, given its upright image again: no finding or classifying twice."""
        corners = np.array(self.corners, dtype=np.float64)
        return CardImage(
            image=upright,
            source=source,
            page=self.page,
            corners=rotate_half_turn(corners) if self.turned else corners,
            side=self.side,
            document_type=self.document_type,
            orientation_confidence=self.orientation_confidence,
            evidence=list(self.evidence),
        )


@dataclass(frozen=True)
class GroupJob:
    """Files whose names say they are one card's sides."""

    files: tuple[ScanFile, ...]
    pairing: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "group", "files": [file.to_json() for file in self.files], "pairing": self.pairing}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GroupJob:
        return cls(tuple(ScanFile.from_json(file) for file in data["files"]), data["pairing"])


@dataclass(frozen=True)
class SurveyJob:
    """One file to look into: its complete cards are finished at once, its loose sides come back for pairing."""

    file: ScanFile
    done: frozenset[str] = frozenset()  # refs of its sides already recorded by an earlier run

    def to_json(self) -> dict[str, Any]:
        return {"kind": "survey", "file": self.file.to_json(), "done": sorted(self.done)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SurveyJob:
        return cls(ScanFile.from_json(data["file"]), frozenset(data["done"]))


@dataclass(frozen=True)
class CardsJob:
    """Loose sides of different files, paired by the parent (or a side alone)."""

    sides: tuple[Loose, ...]
    pairing: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": "cards", "sides": [side.to_json() for side in self.sides], "pairing": self.pairing}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardsJob:
        return cls(tuple(Loose.from_json(side) for side in data["sides"]), data["pairing"])


Job = GroupJob | SurveyJob | CardsJob
_JOB_KINDS: dict[str, type[GroupJob] | type[SurveyJob] | type[CardsJob]] = {
    "group": GroupJob,
    "survey": SurveyJob,
    "cards": CardsJob,
}


def job_to_json(job: Job) -> dict[str, Any]:
    """The job as JSON-ready values, its kind included."""
    return job.to_json()


def job_from_json(data: dict[str, Any]) -> Job:
    """The job `job_to_json` gave; a kind it does not know (a worker older than the batch) raises ValueError."""
    kind = _JOB_KINDS.get(data.get("kind", ""))
    if kind is None:
        raise ValueError(f"unknown job kind {data.get('kind')!r}")
    return kind.from_json(data)


@dataclass
class ItemOutcome:
    """What became of one card or one failed file. `final` items are recorded; the others are tried next run."""

    key: str
    status: str  # ok | partial | failed
    files: list[str]
    pairing: str
    final: bool = True
    created: bool = True  # False: another process recorded it first (nothing written here)
    line: str | None = None  # its results.jsonl line, for a created final item
    pdf_name: str | None = None
    reason: str | None = None
    detail: str | None = None  # a traceback for the log, for an unexpected error
    attachment: str | None = None  # the PDF in the storage folder (relative): what OUTDIR/<pdf_name> is a copy of
    pdf_written: bool = False  # OUTDIR/<pdf_name> written by the worker; else the parent copies it from storage

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemOutcome:
        return cls(**data)


@dataclass(frozen=True)
class Loose:
    """A side its file did not pair, with what the parent needs to pair it."""

    file: ScanFile
    meta: CardMeta
    file_sides: int  # how many sides its file holds in all
    numbers: tuple[SideNumber, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file.to_json(),
            "meta": self.meta.to_json(),
            "file_sides": self.file_sides,
            "numbers": [number.to_json() for number in self.numbers],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Loose:
        return cls(
            ScanFile.from_json(data["file"]),
            CardMeta.from_json(data["meta"]),
            data["file_sides"],
            tuple(SideNumber.from_json(number) for number in data["numbers"]),
        )


@dataclass
class JobResult:
    items: list[ItemOutcome] = field(default_factory=list)
    loose: list[Loose] = field(default_factory=list)
    pid: int = 0
    peak_rss_kb: int = 0  # of the process that ran the job (ru_maxrss: kilobytes on Linux)

    def to_json(self) -> dict[str, Any]:
        return {
            "items": [item.to_json() for item in self.items],
            "loose": [side.to_json() for side in self.loose],
            "pid": self.pid,
            "peak_rss_kb": self.peak_rss_kb,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobResult:
        return cls(
            [ItemOutcome.from_json(item) for item in data["items"]],
            [Loose.from_json(side) for side in data["loose"]],
            data["pid"],
            data["peak_rss_kb"],
        )


def side_ref(sha256: str, page: int, card: int) -> str:
    return f"{sha256}:{page}:{card}"


def file_ref(sha256: str) -> str:
    return f"{sha256}:file"


def item_key(refs: Iterable[str]) -> str:
    """An item's identity: the same sides make the same item, whichever run or worker records it."""
    return hashlib.sha256("\n".join(sorted(refs)).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------------
# Per process: the database engine and the OCR engine, made once


_ENGINES: dict[str, Engine] = {}


def database_engine(url: str) -> Engine:
    """This process's engine for `url`: made once, its connections pooled across jobs."""
    engine = _ENGINES.get(url)
    if engine is None:
        engine = _ENGINES[url] = make_engine(url)
    return engine


def _die_with_parent(parent: int | None) -> None:
    """Linux: die when the batch's process dies, so that a killed batch leaves no worker behind.

    Without it a worker outlives a `kill -9` of the batch, blocked for ever on its job queue, and with it any
    card it was recording at that moment (harmless, it is recorded once, but a process nobody can see).
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if parent is not None and os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)


def worker_init(parent: int | None = None) -> None:
    """A pool worker's start: one Tesseract thread, Ctrl+C left to the parent, the models loaded once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    prepare_worker()


def prepare_worker() -> None:
    """Ready a process to run jobs (a local pool's worker or a Celery worker's): one Tesseract thread, OpenCV on
    one thread, the OCR models loaded once and the database engines of a parent it was forked from dropped."""
    os.environ["OMP_THREAD_LIMIT"] = "1"
    # OpenCV's own threads too: the processes are the parallelism, and threads of two workers would fight for the
    # same cores (measured: 2 workers on 2 cores gave 1.2 times one worker's rate with OpenCV's threads on).
    cv2.setNumThreads(1)
    # A forked process must not use its parent's pooled connections: two processes on one socket garble both.
    _ENGINES.clear()
    engine = get_engine()
    blank = np.full((24, 80), 255, np.uint8)
    for lang in ("vie", "eng"):  # the first use of a language loads its model: pay it now, not on a card
        engine.read_line(blank, lang=lang)


# ---------------------------------------------------------------------------------------------------------
# One job


class _Changed(Exception):
    """The file's content is not what the inventory hashed: it changed during the batch."""


def process_job(job: Job, context: BatchContext) -> JobResult:
    """Run one job to its end: every card it holds recorded (or refused), never raising for a file's sake.

    Safe to run twice, in any number of processes, on any machine sharing the database and the storage folder.
    """
    _hang_if_named(job)
    if isinstance(job, GroupJob):
        result = _group(job, context)
    elif isinstance(job, SurveyJob):
        result = _survey(job, context)
    else:
        result = _loose_cards(job, context)
    result.pid = os.getpid()
    result.peak_rss_kb = peak_rss_kb()
    return result


def _hang_if_named(job: Job) -> None:
    """The tests' hook for a job that never ends; nothing unless MOTCUA_JOB_HANG is set.

    A job holding the file MOTCUA_JOB_HANG names (its name in the batch, relative to the folder) sleeps until its
    worker is killed (an hour at most): what a file that sends a library into an endless loop does to a worker,
    without needing such a file. Read in the worker, so a test sets it in the environment the workers inherit.
    """
    name = os.environ.get(HANG)
    if name and any(file.name == name for file in job_files(job)):
        time.sleep(3600)


def peak_rss_kb() -> int:
    """This process's peak resident memory in KB. Linux's VmHWM: ru_maxrss would carry over, through exec, the
    peak of the process a spawned worker was forked from."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


@dataclass
class _Found:
    file: ScanFile
    ref: str
    card: CardImage
    meta: CardMeta


def _read_file(file: ScanFile, storage: str) -> bytes:
    # Refuse a huge file from its size, before reading it (the inventory's size: a huge file is never copied).
    if file.size > DEFAULT_LIMITS.max_bytes:
        raise FileTooLarge(file.name, file.size, DEFAULT_LIMITS.max_bytes)
    path = Path(file.path)
    if file.stored is not None:
        root = Path(storage).resolve()
        path = (root / file.stored).resolve()
        if not path.is_relative_to(root):  # a message names it: never let one read outside the storage folder
            raise ValueError(f"{file.name}: its copy {file.stored} is outside the storage folder")
        if not path.exists():
            raise FileNotFoundError(
                f"{file.name}: no copy {file.stored} in the storage folder {storage}: "
                "the workers and the batch must share one storage folder"
            )
    size = path.stat().st_size
    if size > DEFAULT_LIMITS.max_bytes:
        raise FileTooLarge(file.name, size, DEFAULT_LIMITS.max_bytes)
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != file.sha256:
        raise _Changed(file.name)
    return data


def _cards_of(file: ScanFile, data: bytes, done: frozenset[str]) -> tuple[list[_Found], int, list[str]]:
    """The file's card sides not yet done (found, warped, upright), how many it holds in all, and warnings."""
    pages = load_pages(data, name=file.name)
    found: list[_Found] = []
    total = 0
    warnings = []
    for page in pages:
        outlines = find_cards(page.image, page.dpi)
        if not outlines and len(pages) > 1:
            warnings.append(f"{file.name} page {page.index + 1}: no card found")
        for index, outline in enumerate(outlines):
            total += 1
            ref = side_ref(file.sha256, page.index, index)
            if ref in done:
                continue
            card = settle_orientation(warp_card(page.image, outline.corners), outline.corners, page)
            meta = CardMeta(
                page=page.index,
                card=index,
                corners=tuple((float(x), float(y)) for x, y in outline.corners),
                turned=not np.array_equal(card.corners, outline.corners),
                side=card.side,
                document_type=card.document_type,
                orientation_confidence=card.orientation_confidence,
                evidence=tuple(card.evidence),
            )
            found.append(_Found(file, ref, card, meta))
    if total == 0:
        raise NoCardFound(file.name, 0 if len(pages) > 1 else None)
    return found, total, warnings


def _group(job: GroupJob, context: BatchContext) -> JobResult:
    result = JobResult()
    found: list[_Found] = []
    totals: dict[str, int] = {}
    contents: dict[str, bytes] = {}
    warnings: list[str] = []
    for file in job.files:
        try:
            data = _read_file(file, context.storage)
            cards, totals[file.sha256], more = _cards_of(file, data, frozenset())
        except IntakeError as error:
            result.items.append(_record_failure(context, file, error))
            continue
        except Exception as error:
            result.items.append(_transient([file], job.pairing, error))
            continue
        contents[file.sha256] = data
        found += cards
        warnings += more
    if len(found) == 2 and found[0].file != found[1].file and len(pair_sides([f.card for f in found])) == 2:
        # The names say one card; the classifier saw two fronts (or two backs, or could not tell): the names win,
        # the file named first (front, mt, 1, a) being the front.
        first, second = found
        sides = pair_as_one(first.card, second.card)
        warnings.append("the two sides were paired by their names, though they did not read as a front and a back")
        by_card = {id(first.card): first, id(second.card): second}
        parts = [by_card[id(card)] for card in sides.images]
        try:
            result.items.append(_record_card(context, sides, parts, totals, contents, job.pairing, warnings))
        except Exception as error:
            result.items.append(_transient(list(job.files), job.pairing, error))
        return result
    result.items += _finish(context, found, totals, contents, job.pairing, warnings)
    return result


def _survey(job: SurveyJob, context: BatchContext) -> JobResult:
    result = JobResult()
    file = job.file
    try:
        data = _read_file(file, context.storage)
        found, total, warnings = _cards_of(file, data, job.done)
    except IntakeError as error:
        result.items.append(_record_failure(context, file, error))
        return result
    except Exception as error:
        result.items.append(_transient([file], "one file", error))
        return result
    by_card = {id(f.card): f for f in found}
    complete: list[_Found] = []
    for sides in pair_sides([f.card for f in found]):
        if sides.front is not None and sides.back is not None:
            complete += [by_card[id(sides.front)], by_card[id(sides.back)]]
            continue
        lone = by_card[id(sides.images[0])]
        try:
            numbers = read_side_numbers(lone.card)
        except Exception:
            log.exception("%s: reading the side's number failed; it is paired without", file.name)
            numbers = []
        _keep_side(context.storage, lone.ref, lone.card.image)
        result.loose.append(Loose(file, lone.meta, total, tuple(numbers)))
    result.items += _finish(context, complete, {file.sha256: total}, {file.sha256: data}, "one file", warnings)
    return result


# A side its own file does not pair waits for its partner, in a later job. Its upright image is kept until then in the
# storage folder (JPEG at quality 95: about 200 KB, 4 ms to write and read back) so that the later job neither
# decodes its page again nor warps it again (about 20 ms a side, measured). The file itself is still read, to prove
# it unchanged by its SHA-256 and to be stored; a kept image that is missing or damaged means the page is decoded
# and the side cut out again, as before.
KEPT_SIDES = "batch-sides"
KEPT_QUALITY = 95


def _kept_path(storage: str, ref: str) -> Path:
    return Path(storage) / KEPT_SIDES / (hashlib.sha256(ref.encode()).hexdigest()[:40] + ".jpg")


def _keep_side(storage: str, ref: str, image: np.ndarray) -> None:
    path = _kept_path(storage, ref)
    try:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, KEPT_QUALITY])
        if not ok:
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # A scan's image: for the service's user only. Not durable: after a crash the page is decoded again.
        write_atomic(path, encoded.tobytes(), 0o600, durable=False)
    except OSError:
        log.warning("could not keep a side for its partner's job; its page will be decoded again", exc_info=True)


def _kept_side(storage: str, loose: Loose, file: ScanFile) -> CardImage | None:
    """The side as the survey left it, from the storage folder; None where it was not kept (or not whole)."""
    meta = loose.meta
    try:
        encoded = _kept_path(storage, side_ref(file.sha256, meta.page, meta.card)).read_bytes()
    except OSError:
        return None
    image = decode_jpeg(encoded) if encoded else None
    if image is None or image.shape[:2] != CARD_SIZE[::-1]:
        return None
    return meta.card_image(image, file.name)


def _drop_kept(storage: str, refs: Iterable[str]) -> None:
    for ref in refs:
        with contextlib.suppress(OSError):
            _kept_path(storage, ref).unlink()


def _loose_cards(job: CardsJob, context: BatchContext) -> JobResult:
    result = JobResult()
    found: list[_Found] = []
    totals: dict[str, int] = {}
    contents: dict[str, bytes] = {}
    files = {loose.file.sha256: loose.file for loose in job.sides}
    try:
        for sha, file in files.items():
            data = contents[sha] = _read_file(file, context.storage)
            mine = [loose for loose in job.sides if loose.file.sha256 == sha]
            kept = [_kept_side(context.storage, loose, file) for loose in mine]
            pages = {page.index: page for page in load_pages(data, name=file.name)} if None in kept else {}
            for loose, card in zip(mine, kept, strict=True):
                card = card or _card_again(pages[loose.meta.page], loose.meta)
                for number in loose.numbers:
                    if number.reading is not None:  # the printed number, read by the survey: not read again
                        card.printed["id_number"], card.printed_as = number.reading, loose.meta.document_type
                found.append(_Found(file, side_ref(sha, loose.meta.page, loose.meta.card), card, loose.meta))
                totals[sha] = loose.file_sides
    except Exception as error:  # the survey read these files: anything now is the file changing, or a bug
        result.items.append(_transient(list(files.values()), job.pairing, error))
        return result
    warnings = []
    if len(job.sides) == 2 and numbers_agree(job.sides[0].numbers, job.sides[1].numbers) is None:
        # Nothing on the two sides to compare (a CMND's back shows no number): the pairing is the files' guess.
        warnings.append(f"the sides were paired by their files' {job.pairing} alone: check they are one person's")
    result.items += _finish(context, found, totals, contents, job.pairing, warnings)
    _drop_kept(context.storage, (f.ref for f in found))
    return result


def _card_again(page: Any, meta: CardMeta) -> CardImage:
    """The side cut out of its page again, from its outline and its half turn."""
    image = warp_card(page.image, np.array(meta.corners, dtype=np.float64))
    return meta.card_image(cv2.rotate(image, cv2.ROTATE_180) if meta.turned else image, page.source)


def _finish(
    context: BatchContext,
    found: list[_Found],
    totals: dict[str, int],
    contents: dict[str, bytes],
    pairing: str,
    warnings: list[str],
) -> list[ItemOutcome]:
    """Pair the found sides (the job already chose them) and record one item per card."""
    by_card = {id(f.card): f for f in found}
    items = []
    for sides in pair_sides([f.card for f in found]):
        parts = [by_card[id(card)] for card in sides.images]
        how = pairing if sides.front is not None and sides.back is not None else "unpaired"
        try:
            items.append(_record_card(context, sides, parts, totals, contents, how, warnings))
        except Exception as error:  # a bug, the database or the disk, not the scan: tried again next run
            items.append(_transient(list({part.file.sha256: part.file for part in parts}.values()), how, error))
    return items


# ---------------------------------------------------------------------------------------------------------
# Recording


def _transient(files: Sequence[ScanFile], pairing: str, error: BaseException) -> ItemOutcome:
    names = [file.name for file in files]
    if isinstance(error, _Changed):
        reason, detail = CHANGED.format(source=", ".join(names)), None
    else:
        reason = UNEXPECTED.format(source=", ".join(names))
        detail = "".join(traceback.format_exception(error))
    key = item_key(file.sha256 for file in files)
    return ItemOutcome(key, "failed", names, pairing, final=False, created=False, reason=reason, detail=detail)


def _file_entry(file: ScanFile, sides: Sequence[_Found] = ()) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": file.name, "sha256": file.sha256, "size": file.size}
    if sides:
        entry["sides"] = [{"page": f.meta.page, "card": f.meta.card, "side": f.card.side} for f in sides]
    return entry


def _line(status: str, pairing: str | None, entries: list[dict[str, Any]], **values: Any) -> dict[str, Any]:
    """An item's results.jsonl line (before the item key, the batch, the PDF and the draft are known)."""
    line: dict[str, Any] = {"status": status, "pairing": pairing, "files": entries}
    line |= dict.fromkeys(("document_type", "id_number", "pdf", "request_id", "reading", "reason", "error"))
    line["warnings"] = []
    return line | values


def _record_failure(context: BatchContext, file: ScanFile, error: IntakeError) -> ItemOutcome:
    """A file that gives no card: recorded, so that a rerun does not try the same bytes again."""
    reason = intake_message(error, source=file.name)
    line = _line("failed", None, [_file_entry(file)], reason=reason, error=str(error))
    try:
        return _commit(context, [(file_ref(file.sha256), file.sha256, 1)], line, [file.name], None, None)
    except Exception as problem:  # the database or the disk, not the scan: tried again next run
        return _transient([file], "one file", problem)


def _record_card(
    context: BatchContext,
    sides: CardSides,
    parts: list[_Found],
    totals: dict[str, int],
    contents: dict[str, bytes],
    pairing: str,
    warnings: list[str],
) -> ItemOutcome:
    files: dict[str, ScanFile] = {}
    for part in parts:
        files.setdefault(part.file.sha256, part.file)
    names = [file.name for file in files.values()]
    refs = [(part.ref, part.file.sha256, totals[part.file.sha256]) for part in parts]
    entries = [_file_entry(file, [p for p in parts if p.file.sha256 == sha]) for sha, file in files.items()]
    try:
        intake = intake_sides(sides, warnings=warnings + sides.warnings)
    except IntakeError as error:  # the PDF cannot fit its budget: nothing to give the reviewer
        reason = intake_message(error, source=", ".join(names))
        line = _line("failed", pairing, entries, document_type=sides.document_type, reason=reason, error=str(error))
        return _commit(context, refs, line, names, None, None)
    status = "ok" if sides.front is not None and sides.back is not None else "partial"
    only = sides.images[0].side
    missing = ONLY_FRONT if only == "front" else ONLY_BACK if only == "back" else ONLY_ONE_SIDE
    number = intake.reading.value("id_number")
    line = _line(
        status,
        pairing,
        entries,
        document_type=intake.reading.document_type,
        id_number=number if number and _ID_NUMBER.fullmatch(number) else None,
        warnings=intake.warnings,
        reason=missing if status == "partial" else None,
    )
    scans = [(file, contents[sha]) for sha, file in files.items() if sha in contents]
    return _commit(context, refs, line, names, intake, scans)


def _form_values(intake: CitizenIntake) -> dict[str, Any]:
    """The draft's columns from the reading: whatever was read (the reading JSON says how sure each value is)."""
    reading = intake.reading
    values: dict[str, Any] = {}
    number = reading.value("id_number")
    if number and _ID_NUMBER.fullmatch(number):
        values["id_number"] = number
    name = reading.value("full_name")
    if name:
        values["full_name"] = name[:200]
    born = reading.value("date_of_birth")
    if born:
        with contextlib.suppress(ValueError):
            values["date_of_birth"] = date.fromisoformat(born)
    return values


class _ToStore(NamedTuple):
    """One of an item's files for the storage folder: written before the transaction, recorded in it."""

    kind: str
    data: bytes
    name: str
    content_type: str
    sha256: str | None = None  # known already (a scan, checked when it was read): not computed again


def _commit(
    context: BatchContext,
    refs: list[tuple[str, str, int]],
    line: dict[str, Any],
    names: list[str],
    intake: CitizenIntake | None,
    scans: list[tuple[ScanFile, bytes]] | None,
) -> ItemOutcome:
    """One transaction per item: its draft, its files, the item and its sides; then its PDF in the output folder.

    The sides' primary key makes a card recorded once, whoever (another worker, a rerun, a worker of a killed run)
    tries the same. The PDF's name is claimed in the same transaction (unique per batch), so that two citizens
    whose cards read the same number never write one file; the file itself is written after the commit, and a
    crash before it is repaired from the storage folder by `reconcile_outputs`.

    A job run again after its worker died past this commit (a queue redelivers the task) finds its own item: it
    reports it as recorded now, so the parent still gets the line, and writes nothing.
    """
    key = item_key(ref for ref, _, _ in refs)
    status, reason = line["status"], line["reason"]
    pairing = line["pairing"] or "one file"
    root = Path(context.storage)
    stored: list[_ToStore] = []
    saved: list[tuple[str, str]] = []  # (path in the storage folder, SHA-256) of each, as save_bytes returned it
    if intake is not None:
        for file, data in scans or []:
            kind = sniff(data[:_HEAD]) or "bin"
            content_type = CONTENT_TYPES.get(kind, "application/octet-stream")
            # `_read_file` has just checked these bytes against the inventory's SHA-256: they are not hashed again.
            stored.append(_ToStore("scan", data, Path(file.name).name, content_type, file.sha256))
        for side, jpeg in intake.side_jpegs.items():
            stored.append(_ToStore("card", jpeg, f"{side}.jpg", "image/jpeg"))
        stored.append(_ToStore("attachment", intake.pdf, "CCCD.pdf", "application/pdf"))
        for entry in stored:
            saved.append(save_bytes(root, entry.data, kind=entry.kind, name=entry.name,
                                    content_type=entry.content_type, sha256=entry.sha256))  # fmt: skip
    engine = database_engine(context.database_url)
    ref_names = [ref for ref, _, _ in refs]
    for _attempt in range(_COMMIT_ATTEMPTS):
        with Session(engine, expire_on_commit=False) as session:
            try:
                if session.exec(select(BatchSide.ref).where(col(BatchSide.ref).in_(ref_names))).first():
                    return _recorded_before(session, context, key, names, pairing, status, reason)
                pdf_name = None
                attachment_path = None
                if intake is not None:
                    # The name first, while nothing waits in the session: its query then sets off no flush.
                    pdf_name = _free_pdf_name(session, context.batch_id, line["id_number"] or f"unread-{key[:8]}")
                    request = AccountRequest(
                        status="draft", origin="batch", batch=context.batch_name, unit_id=context.unit_id,
                        **_form_values(intake),
                    )  # fmt: skip
                    session.add(request)
                    session.flush()
                    # The files are on disk already (saved above): only their records, in one flush.
                    records: list[StoredFile] = []
                    for entry, (relative, digest) in zip(stored, saved, strict=True):
                        records.append(file_record(relative, digest, entry.data, kind=entry.kind, name=entry.name,
                                                   content_type=entry.content_type, request_id=request.id))  # fmt: skip
                    session.add_all(records)
                    session.flush()
                    side_files: dict[str, int | None] = {}
                    attachment: StoredFile | None = None
                    for entry, record in zip(stored, records, strict=True):
                        if entry.kind == "card":
                            side_files[entry.name.removesuffix(".jpg")] = record.id
                        elif entry.kind == "attachment":
                            attachment = record
                    assert attachment is not None
                    request.attachment_id = attachment.id
                    attachment_path = attachment.path
                    reading = {
                        "document_type": intake.reading.document_type,
                        "card": intake.reading.to_json(),
                        "prefill": {name: proposed.to_json() for name, proposed in intake.prefill.items()},
                        "side_files": side_files,
                        "warnings": intake.warnings,
                    }
                    request.reading = json.dumps(reading, ensure_ascii=False)
                    session.add(request)
                    audit(session, None, "batch_read", request=request,
                          detail=f"{context.batch_name}: {intake.reading.document_type}, {status}")  # fmt: skip
                    line = {**line, "pdf": pdf_name, "request_id": request.id, "reading": reading}
                text = json.dumps({"item": key, "batch": context.batch_name, **line}, ensure_ascii=False)
                item = BatchItem(
                    batch_id=context.batch_id,
                    key=key,
                    status=status,
                    request_id=line["request_id"],
                    pdf_name=pdf_name,
                    reason=reason[:500] if reason else None,
                    result=text,
                )
                session.add(item)
                session.flush()
                for ref, sha, total in refs:
                    session.add(BatchSide(ref=ref, sha256=sha, file_sides=total, item_id=item.id or 0))
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
        written = False
        if intake is not None and pdf_name is not None and context.write_pdfs:
            write_atomic(Path(context.out_dir) / pdf_name, intake.pdf)
            written = True
        return ItemOutcome(key, status, names, pairing, line=text, pdf_name=pdf_name, reason=reason,
                           attachment=attachment_path, pdf_written=written)  # fmt: skip
    raise RuntimeError(f"could not record the card of {', '.join(names)} after {_COMMIT_ATTEMPTS} attempts")


def _recorded_before(
    session: Session,
    context: BatchContext,
    key: str,
    names: list[str],
    pairing: str,
    status: str,
    reason: str | None,
) -> ItemOutcome:
    """The outcome of a card whose sides are recorded already.

    The same item of the same batch is this job's own record, made by an earlier attempt that died before its
    result reached the parent: it is reported with its line (the parent writes the line and copies the PDF from
    storage). Anything else (the sides taken by another item or batch) is someone else's, and not reported.
    """
    item = session.exec(select(BatchItem).where(BatchItem.key == key)).first()
    if item is None or item.batch_id != context.batch_id:
        session.commit()
        return ItemOutcome(key, status, names, pairing, created=False, reason=reason)
    attachment = None
    if item.request_id is not None:
        attachment = session.exec(
            select(StoredFile.path)
            .join(AccountRequest, col(AccountRequest.attachment_id) == col(StoredFile.id))
            .where(AccountRequest.id == item.request_id)
        ).first()
    session.commit()
    return ItemOutcome(key, item.status, names, pairing, line=item.result, pdf_name=item.pdf_name,
                       reason=item.reason, attachment=attachment)  # fmt: skip


def _free_pdf_name(session: Session, batch_id: int, base: str) -> str:
    """`<base>.pdf`, or `<base>-2.pdf`, `-3`, ... when another card of the batch has it (two cards, one number)."""
    taken = set(
        session.exec(
            select(BatchItem.pdf_name).where(BatchItem.batch_id == batch_id, col(BatchItem.pdf_name).like(f"{base}%"))
        ).all()
    )
    name, n = f"{base}.pdf", 2
    while name in taken:
        name, n = f"{base}-{n}.pdf", n + 1
    return name


def write_atomic(path: Path, data: bytes, mode: int = 0o640, *, durable: bool = True) -> None:
    """The file complete or absent, never half-written: a temporary name beside it, fsync, rename, fsync the folder.

    `durable=False` leaves out the fsyncs, for a file that is only a cache: after a crash it may be missing, never
    half-written."""
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if not durable:
        return
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


# ---------------------------------------------------------------------------------------------------------
# The folder


@dataclass(frozen=True)
class Skipped:
    """A file of the folder that is not processed, and why (in Vietnamese, for report.csv)."""

    name: str
    status: str  # skipped (not a scan, a copy) | failed (empty or cut short: a scan gone wrong)
    reason: str


@dataclass
class Inventory:
    files: list[ScanFile]
    skipped: list[Skipped]


def _natural(text: str) -> list[Any]:
    """Sort key: "scan_2" before "scan_10", as a file manager lists them."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower()) for part in re.split(r"(\d+)", text)]


def take_inventory(folder: Path) -> Inventory:
    """Every file under `folder` (recursively, in natural order), hashed; what is not a scan set aside.

    The type is judged by content: a scan named `.txt` is taken, a text file named `.jpg` is not. The same content
    twice (a copied file) is processed once. Nothing in `folder` is changed; folder links are not followed.
    """
    entries: list[tuple[list[Any], str, Path]] = []
    for root, dirs, names in os.walk(folder):
        dirs.sort(key=_natural)
        for name in names:
            path = Path(root) / name
            relative = path.relative_to(folder).as_posix()
            entries.append(([_natural(part) for part in relative.split("/")], relative, path))
    entries.sort(key=lambda entry: entry[0])
    files: list[ScanFile] = []
    skipped: list[Skipped] = []
    first: dict[str, str] = {}
    for _, relative, path in entries:
        try:
            if not path.is_file():
                raise OSError("not a regular file")
            with path.open("rb") as f:
                head = f.read(_HEAD)
                if sniff(head) is None:
                    try:
                        load_pages(head, name=relative)  # says why: empty, cut short, or what it looks like
                    except IntakeError as error:
                        status = "skipped" if type(error).__name__ == "UnsupportedFile" else "failed"
                        skipped.append(Skipped(relative, status, intake_message(error, source=relative)))
                    continue
                digest = hashlib.sha256(head)
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
                size = f.tell()
        except OSError:
            reason = f"Không đọc được {relative} (liên kết hỏng hoặc không có quyền)."
            skipped.append(Skipped(relative, "skipped", reason))
            continue
        sha = digest.hexdigest()
        if sha in first:
            skipped.append(Skipped(relative, "skipped", DUPLICATE.format(other=first[sha])))
            continue
        first[sha] = relative
        files.append(ScanFile(str(path), relative, sha, size, order=len(files)))
    return Inventory(files, skipped)


def done_sides(engine: Engine, shas: Sequence[str]) -> dict[str, tuple[set[str], int]]:
    """For each file already dealt with (by any batch): the refs of its sides recorded, and how many it holds."""
    done: dict[str, tuple[set[str], int]] = {}
    with Session(engine, expire_on_commit=False) as session:
        for start in range(0, len(shas), 500):
            chunk = list(shas[start : start + 500])
            rows = session.exec(
                select(BatchSide.sha256, BatchSide.ref, BatchSide.file_sides).where(col(BatchSide.sha256).in_(chunk))
            ).all()
            for sha, ref, total in rows:
                refs, most = done.get(sha, (set(), 0))
                refs.add(ref)
                done[sha] = (refs, max(most, total))
    return done


def plan_jobs(files: Sequence[ScanFile], done: dict[str, tuple[set[str], int]]) -> tuple[list[Job], int]:
    """The first round of jobs for the files not done, and how many files were done already."""
    pending: list[ScanFile] = []
    partly: dict[str, frozenset[str]] = {}
    already = 0
    for file in files:
        refs, total = done.get(file.sha256, (set(), 0))
        if refs and len(refs) >= total:
            already += 1
        elif refs:
            partly[file.sha256] = frozenset(refs)  # a file whose other card is recorded: only what is left
            pending.append(file)
        else:
            pending.append(file)
    fresh = [file for file in pending if file.sha256 not in partly]
    pairs, _alone = pair_by_name([file.name for file in fresh])
    grouped: set[str] = set()
    jobs: list[tuple[int, Job]] = []
    for first, second, rule in pairs:
        a, b = fresh[first], fresh[second]
        grouped |= {a.sha256, b.sha256}
        jobs.append((min(a.order, b.order), GroupJob((a, b), f"names {rule}")))
    for file in pending:
        if file.sha256 not in grouped:
            jobs.append((file.order, SurveyJob(file, partly.get(file.sha256, frozenset()))))
    jobs.sort(key=lambda job: job[0])
    return [job for _, job in jobs], already


def pair_loose(loose: Sequence[Loose]) -> list[CardsJob]:
    """The second round: loose sides of all files paired (`pair_loose_sides`), each pair or lone side a job."""
    sides = [
        LooseSide(
            name=item.file.name,
            order=item.file.order,
            page=item.meta.page,
            card=item.meta.card,
            side=item.meta.side,
            document_type=item.meta.document_type,
            numbers=list(item.numbers),
        )
        for item in loose
    ]
    pairs, alone = pair_loose_sides(sides)
    jobs = [(loose[i].file.order, CardsJob((loose[i], loose[j]), how)) for i, j, how in pairs]
    jobs += [(loose[i].file.order, CardsJob((loose[i],), "unpaired")) for i in alone]
    jobs.sort(key=lambda job: job[0])
    return [job for _, job in jobs]


def job_files(job: Job) -> list[ScanFile]:
    if isinstance(job, GroupJob):
        return list(job.files)
    if isinstance(job, SurveyJob):
        return [job.file]
    return list({loose.file.sha256: loose.file for loose in job.sides}.values())


# ---------------------------------------------------------------------------------------------------------
# Running jobs: in this process, or in a pool of worker processes


class JobRunner(Protocol):
    """Runs a batch's jobs and hands each result to `deliver` as it comes (in the calling thread).

    An implementation must run every job through `process_job` (or return the result it would give: an
    `ItemOutcome` with `final=False` for a job it could not run, or stopped at its time limit) and call `deliver`
    exactly once per job; it must stop a job that runs over its time limit (`job_timed_out`), so that one file
    cannot stall the batch. It may run them in any order, more than once (`process_job` is idempotent), and
    anywhere that shares the database and the storage folder. `Runner` is the local one;
    `intake.tasks.CeleryRunner` a queue of remote workers.
    """

    def run(self, jobs: Sequence[Job], deliver: Callable[[Job, JobResult], None]) -> None: ...

    def close(self, *, cancel: bool = False) -> None: ...


class Runner:
    """Runs jobs in worker processes of its own and hands each result over as it comes; a job that kills its worker
    or runs over its time limit takes only itself with it.

    Each worker is one process with a pipe, holding one job at a time, so the runner knows which process runs which
    job and since when. A job still running `job_timeout` seconds after it was given (a file that sends a library
    into an endless loop, a page that takes for ever) has its process killed and replaced; it is reported with
    `TIMED_OUT` and not recorded, so the next run tries it again. A job whose process dies (a crash in a native
    library, the kernel's OOM killer) is run once more, alone, so that a job that only died because another
    process took the memory gets its chance; if it kills its worker again it is reported with `CRASHED`.
    """

    def __init__(
        self,
        context: BatchContext,
        workers: int,
        function: Callable[[Job, BatchContext], JobResult] = process_job,
        *,
        job_timeout: float = JOB_TIMEOUT,
    ) -> None:
        self.context = context
        self.workers = workers
        self.function = function  # what runs a job: process_job, or a stand-in in the pool's own tests
        self.job_timeout = job_timeout
        self.peaks: dict[int, int] = {}
        self._pool: list[_Worker] = []
        self._failed_starts = 0  # workers in a row that died (or hung) before they were ready

    def _done(self, result: JobResult) -> JobResult:
        if result.pid:
            self.peaks[result.pid] = max(self.peaks.get(result.pid, 0), result.peak_rss_kb)
        return result

    def run(self, jobs: Sequence[Job], deliver: Callable[[Job, JobResult], None]) -> None:
        if self.workers <= 0:  # in this process: for tests and debugging, without a time limit
            for job in jobs:
                deliver(job, self._done(run_guarded(job, self.context, self.function)))
            return
        queue = list(reversed(jobs))
        suspects: list[Job] = []  # jobs whose worker died: each runs again alone
        while queue or suspects or self._busy():
            self._hand_out(queue, suspects)
            self._collect(deliver, suspects)

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers. One still on a job (Ctrl+C, an error in `deliver`) finishes it first, within its time
        limit: its card is then recorded, and the next run finds it done. `cancel` changes nothing here: no job
        waits anywhere but in `run`."""
        try:
            while self._busy():
                now = time.monotonic()
                for worker in [w for w in self._pool if w.job is not None and w.deadline <= now]:
                    self._kill(worker)
                busy = [w for w in self._pool if w.job is not None]
                if not busy:
                    break
                wait_for([w.conn for w in busy] + [w.process.sentinel for w in busy], self._next_deadline(busy))
                for worker in busy:
                    self._read(worker, lambda job, result: None, [])
            for worker in self._pool:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)  # stop
            for worker in self._pool:
                worker.process.join(timeout=5)
        finally:
            for worker in list(self._pool):
                self._kill(worker)

    # -- the workers

    def _busy(self) -> bool:
        return any(worker.job is not None for worker in self._pool)

    def _start_worker(self) -> _Worker:
        context = multiprocessing.get_context("spawn")
        # spawn: a fresh interpreter per worker (1.5 s of imports, once), not a fork of this process, whose
        # progress-bar thread could hold a lock at that moment; and the worker is our child, so it can be made to
        # die with us (PR_SET_PDEATHSIG).
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_work, args=(theirs, self.context, self.function, os.getpid()), name="motcua-batch-worker"
        )
        process.start()
        theirs.close()
        worker = _Worker(process, ours, deadline=time.monotonic() + max(STARTUP_S, self.job_timeout))
        self._pool.append(worker)
        return worker

    def _kill(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.conn.close()
        self._pool.remove(worker)

    def _give(self, worker: _Worker, job: Job, *, alone: bool = False) -> None:
        worker.conn.send(job)
        worker.job, worker.alone = job, alone
        worker.deadline = time.monotonic() + self.job_timeout

    def _hand_out(self, queue: list[Job], suspects: list[Job]) -> None:
        if suspects:
            # A suspect runs alone, once the others are done: if its worker dies again, it is the one.
            if self._busy():
                return
            idle = [w for w in self._pool if w.ready]
            if idle:
                self._give(idle[0], suspects.pop(), alone=True)
            elif not self._pool:
                self._start_worker()
            return
        for worker in self._pool:
            if queue and worker.ready and worker.job is None:
                self._give(worker, queue.pop())
        wanted = min(self.workers, len(queue) + sum(w.job is not None for w in self._pool))
        starting = sum(not w.ready for w in self._pool)
        while queue and len(self._pool) < wanted and starting < len(queue):
            self._start_worker()
            starting += 1

    def _next_deadline(self, workers: Sequence[_Worker]) -> float:
        """Seconds until the first of `workers` is due (a job's end, a start), at most a minute: how long to wait."""
        earliest = min((w.deadline for w in workers if w.job is not None or not w.ready), default=math.inf)
        return min(60.0, max(0.0, earliest - time.monotonic()))

    def _collect(self, deliver: Callable[[Job, JobResult], None], suspects: list[Job]) -> None:
        """Wait for the first result, worker death or deadline, and deal with each."""
        pool = list(self._pool)
        wait_for([w.conn for w in pool] + [w.process.sentinel for w in pool], self._next_deadline(pool))
        for worker in pool:
            self._read(worker, deliver, suspects)
        now = time.monotonic()
        for worker in [w for w in self._pool if w.deadline <= now and (w.job is not None or not w.ready)]:
            job = worker.job
            self._kill(worker)
            if job is None:  # stuck while loading its models
                self._started_badly(f"no worker process was ready after {max(STARTUP_S, self.job_timeout):.0f} s")
                continue
            deliver(job, job_timed_out(job, self.job_timeout))  # logged by the batch, with the files' names

    def _read(self, worker: _Worker, deliver: Callable[[Job, JobResult], None], suspects: list[Job]) -> None:
        """Whatever `worker` sent (its readiness, a result), then its death if it died."""
        dead = False
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if not worker.ready:
                    worker.ready, self._failed_starts = True, 0
                    worker.deadline = math.inf
                elif worker.job is not None:
                    finished, worker.job, worker.deadline = worker.job, None, math.inf
                    deliver(finished, self._done(message))
        except (EOFError, OSError):
            dead = True
        if not (dead or worker.process.exitcode is not None):
            return
        job, ready, alone = worker.job, worker.ready, worker.alone
        self._kill(worker)
        if not ready:
            self._started_badly(f"a worker process ended as it started (exit code {worker.process.exitcode})")
        elif job is not None and alone:
            log.warning("%s: its worker process died", ", ".join(f.name for f in job_files(job)))
            deliver(job, job_crashed(job))
        elif job is not None:
            log.warning("%s: its worker process died; the job will be run again alone",
                        ", ".join(f.name for f in job_files(job)))  # fmt: skip
            suspects.append(job)

    def _started_badly(self, what: str) -> None:
        # A worker that cannot even start is the installation's fault, not a file's: stop rather than loop.
        self._failed_starts += 1
        if self._failed_starts >= 3:
            raise RuntimeError(f"{what}, three times in a row: is the installation broken? (try --workers 0)")


@dataclass
class _Worker:
    """One worker process of a `Runner`, its end of the pipe, the job it holds and when that job must end."""

    process: BaseProcess
    conn: Connection
    ready: bool = False  # it has loaded its models and waits for jobs
    job: Job | None = None
    alone: bool = False  # its job is a suspect, run alone
    deadline: float = math.inf  # for its job, or for its start while not ready


def _work(
    conn: Connection, context: BatchContext, function: Callable[[Job, BatchContext], JobResult], parent: int
) -> None:
    """A worker process's life: ready itself, say so, then run each job it is given and send back the result."""
    worker_init(parent)
    conn.send(None)
    while True:
        try:
            job = conn.recv()
        except EOFError:  # the batch is gone
            return
        if job is None:
            return
        result = run_guarded(job, context, function)
        try:
            conn.send(result)
        except Exception as error:  # the result could not be pickled: say so rather than leave the job hanging
            conn.send(failed_to_run(job, error))


def run_guarded(
    job: Job, context: BatchContext, function: Callable[[Job, BatchContext], JobResult] = process_job
) -> JobResult:
    """The job's result; an exception that escapes it (a bug, the database down) as a result to try next run."""
    try:
        return function(job, context)
    except Exception as error:
        return JobResult(items=[_transient(job_files(job), "", error)])


def failed_to_run(job: Job, error: BaseException | str) -> JobResult:
    """The result of a job whose result never came back (its own did not arrive, or could not be read)."""
    if isinstance(error, str):
        error = RuntimeError(error)
    return JobResult(items=[_transient(job_files(job), "", error)])


def job_crashed(job: Job) -> JobResult:
    """The result of a job that killed its worker (again and again): reported, tried again next run."""
    files = job_files(job)
    names = [file.name for file in files]
    reason = CRASHED.format(source=", ".join(names))
    key = item_key(file.sha256 for file in files)
    return JobResult(items=[ItemOutcome(key, "failed", names, "", final=False, created=False, reason=reason)])


def job_timed_out(job: Job, seconds: float) -> JobResult:
    """The result of a job stopped at its time limit: reported, not recorded, so the next run tries it again.

    Cards of the job recorded before it was stopped stay recorded (their lines are restored from the database).
    """
    files = job_files(job)
    names = [file.name for file in files]
    reason = TIMED_OUT.format(source=", ".join(names), seconds=seconds_words(seconds))
    detail = f"over the time limit of {seconds:g} s: its worker process was killed"
    key = item_key(file.sha256 for file in files)
    outcome = ItemOutcome(key, "failed", names, "", final=False, created=False, reason=reason, detail=detail)
    return JobResult(items=[outcome])


# ---------------------------------------------------------------------------------------------------------
# The output folder


def open_batch(engine: Engine, out_dir: Path, source: Path, name: str | None = None) -> Batch:
    """The batch of this output folder: the one made by an earlier run into it, or a new one with a free name."""
    with Session(engine, expire_on_commit=False) as session:
        found = session.exec(select(Batch).where(Batch.out_dir == str(out_dir))).first()
        if found is not None:
            session.commit()
            return found
        base = (name or out_dir.name or "batch")[:90]
        for n in range(1, 1000):
            candidate = base if n == 1 else f"{base}-{n}"
            if session.exec(select(Batch).where(Batch.name == candidate)).first() is None:
                batch = Batch(name=candidate, out_dir=str(out_dir), source=str(source)[:1000])
                session.add(batch)
                try:
                    session.commit()
                except IntegrityError:  # another run took it meanwhile
                    session.rollback()
                    continue
                return batch
    raise RuntimeError(f"no free batch name for {base}")


def reconcile_outputs(engine: Engine, context: BatchContext) -> int:
    """Make the output folder say what the database says; returns how many things were repaired.

    results.jsonl: one line per item of the batch, in the order found (torn, foreign or repeated lines dropped,
    missing ones appended), rewritten only if something was wrong. PDFs: restored from the storage folder when
    absent or of the wrong size. Temporary files of an interrupted write: removed.
    """
    out = Path(context.out_dir)
    repaired = 0
    with Session(engine, expire_on_commit=False) as session:
        items = session.exec(
            select(BatchItem).where(BatchItem.batch_id == context.batch_id).order_by(col(BatchItem.id))
        ).all()
        attachments = dict(
            session.exec(
                select(BatchItem.key, StoredFile)
                .join(AccountRequest, col(AccountRequest.id) == col(BatchItem.request_id))
                .join(StoredFile, col(StoredFile.id) == col(AccountRequest.attachment_id))
                .where(BatchItem.batch_id == context.batch_id)
            ).all()
        )
        session.commit()
    expected = {item.key: item for item in items}
    results = out / RESULTS
    kept: list[str] = []
    seen: set[str] = set()
    changed = False
    if results.exists():
        raw = results.read_bytes()
        changed = bool(raw) and not raw.endswith(b"\n")
        for line in raw.decode("utf-8", errors="replace").split("\n"):
            if not line.strip():
                continue
            try:
                key = json.loads(line).get("item")
            except (ValueError, AttributeError):
                key = None
            if key not in expected or key in seen:
                changed = True
                repaired += 1
                continue
            seen.add(key)
            kept.append(line)
    for item in items:
        if item.key not in seen:
            kept.append(item.result)
            changed = True
            repaired += 1
    if changed or (items and not results.exists()):
        write_atomic(results, "".join(line + "\n" for line in kept).encode("utf-8"))
    for item in items:
        stored = attachments.get(item.key)
        if item.pdf_name is None or stored is None:
            continue
        target = out / item.pdf_name
        if not target.exists() or target.stat().st_size != stored.size:
            write_atomic(target, read_stored(Path(context.storage), stored))
            repaired += 1
    for temporary in out.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            temporary.unlink()
    return repaired


def copy_pdf(context: BatchContext, pdf_name: str, attachment: str) -> None:
    """OUTDIR/<pdf_name> from the stored attachment, unless it is there already (the same size)."""
    root = Path(context.storage).resolve()
    source = (root / attachment).resolve()
    if not source.is_relative_to(root):
        raise ValueError(f"stored path {attachment} outside the storage folder")
    target = Path(context.out_dir) / pdf_name
    if target.exists() and target.stat().st_size == source.stat().st_size:
        return
    write_atomic(target, source.read_bytes())


def write_report(
    engine: Engine, context: BatchContext, skipped: Sequence[Skipped], retry: Sequence[ItemOutcome]
) -> int:
    """report.csv: every card or file of the batch that did not come out whole, with the reason; returns the rows.

    Built from the database (what every run of the batch recorded) and this run's folder and failures, so a rerun
    that changes nothing writes the same report.
    """
    rows: list[tuple[str, str, str, str, str]] = []
    with Session(engine, expire_on_commit=False) as session:
        items = session.exec(
            select(BatchItem).where(BatchItem.batch_id == context.batch_id, col(BatchItem.status) != "ok")
        ).all()
        session.commit()
    for item in items:
        line = json.loads(item.result)
        files = "; ".join(entry["path"] for entry in line.get("files", []))
        number = line.get("id_number") or ""
        rows.append((files, STATUS_WORDS[item.status], item.reason or "", number, item.pdf_name or ""))
    for entry in skipped:
        rows.append((entry.name, STATUS_WORDS[entry.status], entry.reason, "", ""))
    for outcome in retry:
        rows.append(("; ".join(outcome.files), STATUS_WORDS["retry"], outcome.reason or "", "", ""))
    rows.sort(key=lambda row: _natural(row[0]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(REPORT_HEADER)
    writer.writerows(rows)
    # With a byte-order mark: Excel, what an officer opens a CSV with, then reads the Vietnamese right.
    write_atomic(Path(context.out_dir) / REPORT, buffer.getvalue().encode("utf-8-sig"))
    return len(rows)


# ---------------------------------------------------------------------------------------------------------
# The whole batch


class BatchProgress(Protocol):
    """What the batch tells whoever shows its progress (the command line's bar)."""

    def start(self, files: int, workers: int) -> None: ...

    def advance(self, files: int, counts: Counter[str]) -> None: ...

    def note(self, message: str) -> None: ...

    def stop(self) -> None: ...


@dataclass
class BatchSummary:
    """What a run did, for the summary at the end and the benchmark."""

    batch: str
    out_dir: Path
    files: int  # in the folder
    scans: int  # of which scans (distinct contents)
    skipped: list[Skipped]
    already_done: int  # scans recorded by an earlier run (or another batch)
    counts: Counter[str]  # items of this run: ok, partial, failed, retry
    pairings: Counter[str]  # how the cards of this run were paired
    retry: list[ItemOutcome]
    repaired: int  # outputs repaired from the database at the start
    seconds: float
    workers: int
    peak_rss_kb: dict[int, int]

    @property
    def cards(self) -> int:
        return self.counts["ok"] + self.counts["partial"]


class BatchError(Exception):
    """The batch cannot start (its folders are wrong); the message says why."""


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _check_folders(folder: Path, out_dir: Path, storage: Path) -> None:
    if out_dir == folder or out_dir.is_relative_to(folder):
        raise BatchError(f"the output folder {out_dir} must be outside the scanned folder {folder} (never changed)")
    if storage.is_relative_to(folder):
        raise BatchError(f"the storage folder {storage} must be outside the scanned folder {folder}")


def run_batch(
    folder: Path,
    out_dir: Path,
    *,
    database_url: str,
    storage: Path,
    workers: int | None = None,
    batch_name: str | None = None,
    unit_code: str | None = None,
    progress: BatchProgress | None = None,
    runner: Callable[[BatchContext], JobRunner] | None = None,
    job_timeout: float = JOB_TIMEOUT,
) -> BatchSummary:
    """Process every scan under `folder` into `out_dir` (see the module's docstring); safe to run again at any time.

    `workers` 0 runs everything in this process (for tests and debugging, without a time limit); None means one per
    CPU. `runner` makes the job runner for the batch's context (default: a local `Runner` with `workers` processes
    and `job_timeout` seconds per job; a runner made elsewhere has its own limit).
    """
    started = time.perf_counter()
    folder, out_dir, storage = folder.resolve(), out_dir.resolve(), storage.resolve()
    if not folder.is_dir():
        raise BatchError(f"{folder} is not a folder")
    _check_folders(folder, out_dir, storage)
    workers = default_workers() if workers is None else workers
    out_dir.mkdir(parents=True, exist_ok=True)
    with _only_run_into(out_dir):
        return _run(folder, out_dir, database_url, storage, workers, batch_name, unit_code, progress,
                    runner or (lambda context: Runner(context, workers, job_timeout=job_timeout)), started)  # fmt: skip


@contextlib.contextmanager
def _only_run_into(out_dir: Path) -> Iterator[None]:
    """One run at a time into an output folder: two would both append to its results.jsonl.

    An advisory lock on a file in the folder, released by the kernel however the run ends (kill -9 included).
    """
    path = out_dir / LOCK
    with path.open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BatchError(f"another batch is running into {out_dir}; wait for it to end") from None
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # still ours while we hold the lock


def _run(
    folder: Path,
    out_dir: Path,
    database_url: str,
    storage: Path,
    workers: int,
    batch_name: str | None,
    unit_code: str | None,
    progress: BatchProgress | None,
    make_runner: Callable[[BatchContext], JobRunner],
    started: float,
) -> BatchSummary:
    engine = make_engine(database_url)
    upgrade(engine)
    unit_id = None
    if unit_code:
        with Session(engine, expire_on_commit=False) as session:
            unit = session.exec(select(Unit).where(Unit.code == unit_code)).first()
            session.commit()
        if unit is None:
            raise BatchError(f"no unit with code {unit_code}")
        unit_id = unit.id
    batch = open_batch(engine, out_dir, folder, batch_name)
    context = BatchContext(batch.id or 0, batch.name, str(out_dir), str(storage), database_url, unit_id)
    repaired = reconcile_outputs(engine, context)

    inventory = take_inventory(folder)
    done = done_sides(engine, [file.sha256 for file in inventory.files])
    jobs, already = plan_jobs(inventory.files, done)
    summary = BatchSummary(
        batch=batch.name,
        out_dir=out_dir,
        files=len(inventory.files) + len(inventory.skipped),
        scans=len(inventory.files),
        skipped=inventory.skipped,
        already_done=already,
        counts=Counter(),
        pairings=Counter(),
        retry=[],
        repaired=repaired,
        seconds=0.0,
        workers=workers,
        peak_rss_kb={},
    )
    pending_files = {file.sha256 for job in jobs for file in job_files(job)}
    outstanding: Counter[str] = Counter()  # loose sides of a file still to be recorded
    loose: list[Loose] = []
    runner = make_runner(context)
    results = out_dir / RESULTS
    if progress:
        progress.start(len(pending_files), workers)

    with results.open("a", encoding="utf-8") as lines:

        def deliver(job: Job, result: JobResult) -> None:
            for item in result.items:
                if not item.final:
                    summary.counts["retry"] += 1
                    summary.retry.append(item)
                    log.error("%s: %s", ", ".join(item.files), item.detail or item.reason)
                    continue
                if not item.created:
                    continue
                summary.counts[item.status] += 1
                if item.status != "failed":
                    summary.pairings[item.pairing] += 1
                if item.pdf_name and item.attachment and not item.pdf_written:
                    copy_pdf(context, item.pdf_name, item.attachment)  # before its line, as a worker does
                if item.line is not None:
                    # One write of a whole line: a crash leaves whole lines, at worst without this one, which the
                    # next run's reconciliation adds from the database.
                    lines.write(item.line + "\n")
                    lines.flush()
                    os.fsync(lines.fileno())
            finished = 0
            if isinstance(job, CardsJob):
                for side in job.sides:
                    outstanding[side.file.sha256] -= 1
                    finished += outstanding[side.file.sha256] == 0
            else:
                for file in job_files(job):
                    mine = [side for side in result.loose if side.file.sha256 == file.sha256]
                    loose.extend(mine)
                    outstanding[file.sha256] += len(mine)
                    finished += not mine
            if progress:
                progress.advance(finished, summary.counts)

        try:
            runner.run(jobs, deliver)
            if loose:
                if progress:
                    progress.note(f"ghép {len(loose)} mặt thẻ lẻ theo số, tên tệp và thứ tự")
                runner.run(pair_loose(loose), deliver)
        except KeyboardInterrupt:
            runner.close(cancel=True)
            reconcile_outputs(engine, context)
            write_report(engine, context, inventory.skipped, summary.retry)
            raise
        finally:
            runner.close()
            if progress:
                progress.stop()
    reconcile_outputs(engine, context)  # lines of items whose result a dead worker never returned
    write_report(engine, context, inventory.skipped, summary.retry)
    engine.dispose()
    summary.peak_rss_kb = getattr(runner, "peaks", {})
    summary.seconds = time.perf_counter() - started
    return summary
