"""Celery: a batch's per-citizen jobs on `motcua worker`s of any number of machines, through a Redis broker.

The contract (the task queue's, see `intake.batch.JobRunner`):

- Workers share nothing with `motcua batch` but the broker, the database and the storage folder. A job is sent as
  JSON (never pickle), its files copied first into the storage folder (`incoming/<batch id>/<sha256>`), since a
  worker does not see the scanned folder; it runs through `process_job` with the worker's own database URL and
  storage folder (a path may differ from machine to machine); its result comes back as JSON through Redis. The
  parent alone writes the output folder: results.jsonl, each PDF (copied from storage) and report.csv.
- A message is acknowledged after its task ends (`acks_late`), and given back when the worker process running
  it dies (`task_reject_on_worker_lost`); when the whole worker dies (the machine, a `kill -9` of the worker), the
  broker gives it to another after `redeliver_after` seconds. So a task may run twice: `process_job` is
  idempotent (the database's per-side keys), and an attempt that finds its card recorded by an earlier one
  reports that record. The parent delivers one result per job, whatever reached Redis.
- A job that kills its worker every time is run `MAX_ATTEMPTS` times, then reported as crashing, not retried for
  ever.
- Every task carries the batch's time limit (`--job-timeout`, Celery's hard `time_limit`; a worker's default is
  `JOB_TIMEOUT` for a message without one): a task over it has its worker process killed and replaced by the
  pool, its message acknowledged (not redelivered), and the batch reports the job for its next run. No soft limit:
  it is an exception raised in the task, which the job's per-file error handling would take for a file's error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery
from celery.exceptions import TimeLimitExceeded
from celery.signals import worker_process_init
from celery.utils import uuid
from kombu.utils.url import maybe_sanitize_url
from sqlmodel import Session

from forms.models import Batch
from intake.batch import (
    JOB_TIMEOUT,
    BatchContext,
    CardsJob,
    GroupJob,
    Job,
    JobResult,
    ScanFile,
    SurveyJob,
    database_engine,
    failed_to_run,
    job_crashed,
    job_files,
    job_from_json,
    job_timed_out,
    job_to_json,
    prepare_worker,
    run_guarded,
)
from intake.load import DEFAULT_LIMITS

log = logging.getLogger("motcua.tasks")

QUEUE = "motcua.batch"
TASK = "motcua.batch.process_job"
STAGING = "incoming"  # in the storage folder: the scans of running batches, for the workers
MAX_ATTEMPTS = 3
REDELIVER_AFTER = 600  # seconds: longer than any one job (a file of many pages), short enough to wait for
RESULT_TTL = 24 * 3600  # a result nobody collects (its batch was killed) leaves Redis after a day
WINDOW = 256  # jobs queued at once by one batch: enough for many workers, little to cancel or leave behind
QUIET_WARNING = 60  # seconds without a result before the batch says it is waiting for workers
SCHEMES = ("redis://", "rediss://", "unix://")
HOLD = "MOTCUA_TASK_HOLD"  # the tests' hook for a worker killed mid-task (see `_checkpoint`)


class BrokerError(Exception):
    """The broker's URL is not one this queue works with (Redis: it is both the broker and the result store)."""


def check_broker(url: str) -> str:
    if not url.startswith(SCHEMES):
        raise BrokerError(f"the broker must be Redis (redis://HOST:6379/N), not {maybe_sanitize_url(url)}")
    return url


@dataclass(frozen=True)
class WorkerSettings:
    """A worker machine's own view of what the batch shares: the database and the storage folder."""

    database_url: str
    storage: str


def make_app(broker: str, *, worker: WorkerSettings | None = None, redeliver_after: int = REDELIVER_AFTER) -> Celery:
    """The Celery application on `broker` (Redis, also the result store). With `worker`, the task is registered
    (a worker's app); without it, the app only sends tasks and reads results (the batch's)."""
    app = Celery("motcua", broker=check_broker(broker), backend=broker, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_default_queue=QUEUE,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # a worker holds only the jobs it runs: the others stay for other workers
        worker_cancel_long_running_tasks_on_connection_loss=True,  # unacknowledged: they come back, and run again
        task_time_limit=JOB_TIMEOUT,  # for a message that carries no limit of its own (the batch sends one)
        result_expires=RESULT_TTL,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": redeliver_after,
            # Look for the messages of vanished workers every few seconds, not every 100 s (kombu's default).
            "unacked_restore_interval": max(1, min(10, redeliver_after // 10)),
            "unacked_restore_throttle": 1,
        },
    )
    if worker is not None:
        settings = worker

        @app.task(name=TASK, bind=True, resultrepr_maxsize=160)  # the log's line per task: not the whole reading
        def process(task: Any, job: dict[str, Any], context: dict[str, Any]) -> dict[str, Any]:
            return run_task(task.app, task.request.id, job, context, settings)

    return app


# ---------------------------------------------------------------------------------------------------------
# On the worker


class WrongDatabase(Exception):
    """The worker's database is not the batch's: it would record cards where the batch never looks."""


_KNOWN_BATCHES: set[tuple[str, int, str]] = set()


def _check_batch(context: BatchContext) -> None:
    known = (context.database_url, context.batch_id, context.batch_name)
    if known in _KNOWN_BATCHES:
        return
    with Session(database_engine(context.database_url)) as session:
        batch = session.get(Batch, context.batch_id)
        name = batch.name if batch is not None else None
        session.commit()
    if name != context.batch_name:
        raise WrongDatabase(
            f'the worker\'s database has no batch "{context.batch_name}" (id {context.batch_id}): give the worker '
            "the database of `motcua batch` (MOTCUA_DATABASE_URL)"
        )
    _KNOWN_BATCHES.add(known)


def run_task(
    app: Celery, task_id: str, job_data: dict[str, Any], context_data: dict[str, Any], settings: WorkerSettings
) -> dict[str, Any]:
    """One delivery of a job's task: its result as JSON. Never raises for a file's sake (`run_guarded`)."""
    attempt = _attempt(app, task_id)
    _checkpoint("start", task_id, attempt)
    job = job_from_json(job_data)
    unstaged = [f.name for f in job_files(job) if f.stored is None and f.size <= DEFAULT_LIMITS.max_bytes]
    if unstaged:  # a worker reads the storage folder only, whatever path a message names
        return failed_to_run(job, f"no copy of {', '.join(unstaged)} in the storage folder").to_json()
    if attempt > MAX_ATTEMPTS:
        log.error("%s: its worker died %d times; given up", ", ".join(f.name for f in job_files(job)), MAX_ATTEMPTS)
        return job_crashed(job).to_json()
    context = dataclasses.replace(
        BatchContext.from_json(context_data),
        database_url=settings.database_url,
        storage=settings.storage,
        write_pdfs=False,  # the output folder is the batch's: it copies the PDFs from the storage folder
    )
    try:
        _check_batch(context)
    except Exception as error:
        return failed_to_run(job, error).to_json()
    result = run_guarded(job, context)
    if any(item.line for item in result.items):
        _checkpoint("recorded", task_id, attempt)
    return result.to_json()


def attempts_key(task_id: str) -> str:
    return f"motcua:attempts:{task_id}"


def _attempt(app: Celery, task_id: str) -> int:
    """Which delivery of the task this is (1, 2, ...), counted in Redis: a message carries no delivery count."""
    key = attempts_key(task_id)
    attempt = int(app.backend.incr(key))
    app.backend.expire(key, RESULT_TTL)
    return attempt


def _checkpoint(point: str, task_id: str, attempt: int) -> None:
    """The tests' hook for a worker killed mid-task; nothing unless MOTCUA_TASK_HOLD names a folder.

    There, each attempt leaves `<task>.<attempt>.<point>` (its process id inside) at "start" (before the job) and,
    for a job that recorded a card, "recorded" (after the commit, before the result is returned). A file
    `hold-<point>` stops the first task to reach that point (it takes the file) until the test kills its process
    (five minutes at most).
    """
    folder = os.environ.get(HOLD)
    if not folder:
        return
    root = Path(folder)
    (root / f"{task_id}.{attempt}.{point}").write_text(str(os.getpid()))
    try:
        (root / f"hold-{point}").unlink()
    except FileNotFoundError:
        return
    (root / f"{task_id}.{attempt}.held-{point}").write_text(str(os.getpid()))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        time.sleep(0.1)


def _init_process(**_: Any) -> None:
    prepare_worker()


def run_worker(
    broker: str,
    settings: WorkerSettings,
    *,
    concurrency: int,
    name: str,
    loglevel: str = "INFO",
    redeliver_after: int = REDELIVER_AFTER,
) -> None:
    """Run a Celery worker with `concurrency` processes (forked, each with its own Tesseract) until stopped."""
    os.environ["OMP_THREAD_LIMIT"] = "1"  # before any Tesseract loads, in this process and the forked ones
    app = make_app(broker, worker=settings, redeliver_after=redeliver_after)
    worker_process_init.connect(_init_process, weak=False)
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency}",
            "--pool=prefork",
            f"--queues={QUEUE}",
            f"--hostname={name}",
            f"--loglevel={loglevel}",
            "--without-gossip",  # nothing here needs the workers' events about one another
        ]
    )


def worker_processes(app: Celery, timeout: float = 1.0) -> int:
    """How many processes the workers that answer within `timeout` run in all (0: none is up)."""
    stats = app.control.inspect(timeout=timeout).stats() or {}
    return sum(int(worker.get("pool", {}).get("max-concurrency", 0)) for worker in stats.values())


# ---------------------------------------------------------------------------------------------------------
# On the batch's side


class CeleryRunner:
    """Runs a batch's jobs on `motcua worker`s through the broker: the `JobRunner` of `motcua batch --broker`.

    At most `window` jobs are queued at a time, each with its files copied into the storage folder first and
    `job_timeout` as its hard time limit; results are read from Redis every `poll` seconds, and each job's delivered
    once (a redelivered task stores its result again under the same id: it is not read twice). Ctrl+C revokes the
    jobs still queued.
    """

    def __init__(
        self,
        context: BatchContext,
        broker: str,
        *,
        window: int = WINDOW,
        poll: float = 0.1,
        app: Celery | None = None,
        job_timeout: float = JOB_TIMEOUT,
    ) -> None:
        self.context = context
        self.app = app or make_app(broker)
        self.job_timeout = job_timeout
        self.window = window
        self.poll = poll
        self.peaks: dict[int, int] = {}  # per worker process id (for the benchmark; ids of two machines may clash)
        self.inflight: dict[str, Job] = {}
        self.staging = Path(context.storage) / STAGING / str(context.batch_id)
        self._sent_context = dataclasses.replace(context, write_pdfs=False).to_json()

    def run(self, jobs: Sequence[Job], deliver: Callable[[Job, JobResult], None]) -> None:
        pending = list(reversed(jobs))
        heard = time.monotonic()
        while pending or self.inflight:
            if time.monotonic() - heard > QUIET_WARNING:
                # Nothing says whether a job is queued or lost (a worker's machine down): say what is awaited.
                log.warning("no result for %d s; %d jobs queued: is a `motcua worker` running?",
                            QUIET_WARNING, len(self.inflight))  # fmt: skip
                heard = time.monotonic()
            while pending and len(self.inflight) < self.window:
                job = pending.pop()
                try:
                    self._send(job)
                except OSError as error:  # its file could not be copied (gone, unreadable): tried next run
                    deliver(job, failed_to_run(job, error))
            for task_id, meta in self.app.backend.get_many(set(self.inflight), interval=self.poll, max_iterations=1):
                if task_id not in self.inflight:  # read twice (a redelivered task's second result): delivered already
                    continue
                job = self.inflight.pop(task_id)
                result = self._result(job, meta)
                self._forget(task_id)
                if result.pid:
                    self.peaks[result.pid] = max(self.peaks.get(result.pid, 0), result.peak_rss_kb)
                deliver(job, result)
                heard = time.monotonic()

    def close(self, *, cancel: bool = False) -> None:
        if cancel and self.inflight:
            # Not yet run: dropped. Running: they end and record their cards, which the next run finds done.
            self.app.control.revoke(list(self.inflight))
            for task_id in self.inflight:
                self._forget(task_id)
            self.inflight.clear()
        if not self.inflight:
            shutil.rmtree(self.staging, ignore_errors=True)
            with contextlib.suppress(OSError):
                self.staging.parent.rmdir()  # when no other batch has files there
        self.app.close()

    def _forget(self, task_id: str) -> None:
        self.app.AsyncResult(task_id).forget()
        self.app.backend.delete(attempts_key(task_id))

    def _send(self, job: Job) -> None:
        task_id = uuid()
        self.app.send_task(TASK, args=(job_to_json(self._stage(job)), self._sent_context), task_id=task_id,
                           time_limit=self.job_timeout)  # fmt: skip
        self.inflight[task_id] = job

    def _result(self, job: Job, meta: dict[str, Any]) -> JobResult:
        if meta["status"] == "FAILURE" and isinstance(meta.get("result"), TimeLimitExceeded):
            return job_timed_out(job, self.job_timeout)  # its worker process was killed and replaced by the pool
        if meta["status"] != "SUCCESS":  # the error as the backend gives it back (an exception, rebuilt)
            error = f"its task ended {meta['status']} on a worker: {meta.get('result')!r}"
            return failed_to_run(job, f"{error}\n{meta.get('traceback') or ''}".strip())
        try:
            return JobResult.from_json(meta["result"])
        except Exception as error:  # a worker of another version of motcua
            return failed_to_run(job, error)

    def _stage(self, job: Job) -> Job:
        """The job with its files' copies in the storage folder, where every worker sees them."""
        staged = {file.sha256: self._stage_file(file) for file in job_files(job)}
        if isinstance(job, GroupJob):
            return dataclasses.replace(job, files=tuple(staged[file.sha256] for file in job.files))
        if isinstance(job, SurveyJob):
            return dataclasses.replace(job, file=staged[job.file.sha256])
        assert isinstance(job, CardsJob)
        sides = tuple(dataclasses.replace(side, file=staged[side.file.sha256]) for side in job.sides)
        return dataclasses.replace(job, sides=sides)

    def _stage_file(self, file: ScanFile) -> ScanFile:
        if file.size > DEFAULT_LIMITS.max_bytes:
            return file  # refused from its size by the worker, never read: not worth a copy
        target = self.staging / file.sha256
        if not target.exists():
            self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle, temporary = tempfile.mkstemp(dir=self.staging, prefix=".incoming-")
            os.close(handle)
            try:
                shutil.copyfile(file.path, temporary)
                os.chmod(temporary, 0o600)
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
                raise
        return dataclasses.replace(file, stored=target.relative_to(self.context.storage).as_posix())
