"""[Quét] in the background: the flatbed scans in a thread of the web process, one scan at a time per station."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from forms.accounts import audit
from forms.models import AccountRequest, Officer, utcnow
from web.filters import LOCAL_ZONE

log = logging.getLogger("motcua.scanning")

KEEP_S = 600.0  # a finished scan's state stays this long for its page to read (it polls every second)
UNEXPECTED = "Lỗi khi quét hoặc đọc bản quét (không do thẻ). Thử lại; nếu vẫn lỗi, báo quản trị viên."
SCANNING, READING, DONE, FAILED = "scanning", "reading", "done", "failed"


@dataclass
class ScanJob:
    """One press of [Quét]: what its page polls until the scan is recorded (`done`) or has failed."""

    id: str
    station: str
    request_id: int
    officer_id: int | None
    started_at: datetime
    status: str = SCANNING  # scanning → reading → done | failed
    station_scan: int | None = None  # the recorded scan (failed ones too, when the scanner gave a page)
    error: str | None = None  # what to tell the officer, in Vietnamese
    ended: float | None = None  # time.monotonic() at its end

    def to_json(self) -> dict[str, Any]:
        return {
            "scan_job": self.id,
            "status": self.status,
            "station_scan": self.station_scan,
            "error": self.error,
            "started_at": self.started_at.astimezone(LOCAL_ZONE).strftime("%H:%M:%S"),
        }


class ScanJobs:
    """This web process's [Quét] scans. At most one runs per station: a second press while one runs is refused,
    not queued (the officer would not know which card the second scan is of). Each runs in a daemon thread; its
    state is changed and read under one lock, so a poll never sees a half-made change."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, ScanJob] = {}
        self._running: dict[str, str] = {}  # station → its running job's id

    def start(
        self, station: str, request_id: int, officer_id: int | None, work: Callable[[ScanJob, ScanJobs], None]
    ) -> tuple[ScanJob, bool]:
        """A new job for `station`, running `work` in a thread, and True; or the station's running job and False."""
        with self._lock:
            self._forget_ended()
            running = self._running.get(station)
            if running is not None:
                return dataclasses.replace(self._jobs[running]), False
            job = ScanJob(secrets.token_urlsafe(12), station, request_id, officer_id, utcnow())
            self._jobs[job.id] = job
            self._running[station] = job.id
            seen = dataclasses.replace(job)
        thread = threading.Thread(target=self._run, args=(job, work), name=f"motcua-scan-{job.id}", daemon=True)
        thread.start()
        return seen, True

    def get(self, job_id: str) -> ScanJob | None:
        """A copy of the job as it is now (None: unknown, or ended long ago)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return dataclasses.replace(job) if job is not None else None

    def update(self, job: ScanJob, **changes: Any) -> None:
        with self._lock:
            for name, value in changes.items():
                setattr(job, name, value)

    def _run(self, job: ScanJob, work: Callable[[ScanJob, ScanJobs], None]) -> None:
        try:
            work(job, self)
        except Exception:  # a bug, the database or the disk: the page must still hear that the scan ended
            log.exception("[Quét] at station %s failed", job.station)
            self.update(job, status=FAILED, error=UNEXPECTED)
        finally:
            with self._lock:
                if job.status not in (DONE, FAILED):
                    job.status, job.error = FAILED, UNEXPECTED
                job.ended = time.monotonic()
                self._running.pop(job.station, None)

    def _forget_ended(self) -> None:
        now = time.monotonic()
        for job_id in [j.id for j in self._jobs.values() if j.ended is not None and now - j.ended > KEEP_S]:
            del self._jobs[job_id]


def scan_and_record(
    job: ScanJob, jobs: ScanJobs, *, device: str, engine: Engine, storage: Path, station: str, unit_id: int | None
) -> None:
    """A job's work: the flatbed's page (10 to 40 s), then read and recorded as the station's scan, reserved for
    the job's request; its page takes it from there. Runs outside any request: its own short sessions only."""
    from intake.scanner import ScannerError, scan_page
    from intake.watch import Station

    try:
        page = scan_page(device)
    except ScannerError as error:
        with Session(engine) as session:
            officer = session.get(Officer, job.officer_id) if job.officer_id is not None else None
            audit(session, officer, "scanner_failed", request=session.get(AccountRequest, job.request_id),
                  detail=type(error).__name__)  # fmt: skip
            session.commit()
        jobs.update(job, status=FAILED, error=error.vietnamese)
        return
    jobs.update(job, status=READING)
    name = f"quet-{utcnow().astimezone(LOCAL_ZONE):%Y%m%d-%H%M%S}.tif"
    row = Station(engine, storage, name=station, unit_id=unit_id).record(
        name, page.data, source="scanner", request_id=job.request_id
    )
    if row.status != "ok":
        jobs.update(job, status=FAILED, error=row.error, station_scan=row.id)
    else:
        jobs.update(job, status=DONE, station_scan=row.id)
