"""`motcua batch`: a folder of scans to PDFs, results.jsonl, report.csv and drafts for review, with a progress bar;
`motcua worker`: a Celery worker that runs the jobs of `motcua batch --broker` from any machine."""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from intake.batch import BatchContext, BatchSummary, JobRunner


class RichProgress:
    """The batch's progress as a rich bar: files done of all, cards ok / one side / failed, rate and time left."""

    def __init__(self, queued: bool = False) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("còn"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[counts]}"),
            console=self.console,
        )
        self.task: Any = None
        self.queued = queued  # the jobs go to `motcua worker`s through the broker

    def start(self, files: int, workers: int) -> None:
        self.progress.start()
        if self.queued:
            where = f"hàng đợi của {workers} tiến trình worker" if workers else "hàng đợi (chưa có worker nào chạy)"
        else:
            where = f"{workers} tiến trình" if workers else "một tiến trình"
        self.console.print(f"{files} tệp cần xử lý, {where}")
        self.task = self.progress.add_task("Tệp quét", total=files, rate="", counts="")

    def advance(self, files: int, counts: Counter[str]) -> None:
        task = self.progress.tasks[self.task]
        speed = task.finished_speed or task.speed
        rate = f"{speed:.1f} tệp/s" if speed else ""
        shown = f"đạt {counts['ok']} · thiếu mặt {counts['partial']} · lỗi {counts['failed'] + counts['retry']}"
        self.progress.update(self.task, advance=files, rate=rate, counts=shown)

    def note(self, message: str) -> None:
        self.progress.console.print(message)

    def stop(self) -> None:
        self.progress.stop()


def _summary(summary: BatchSummary) -> str:
    counts = summary.counts
    rate = summary.cards / summary.seconds if summary.seconds else 0.0
    lines = [
        f'Lô "{summary.batch}": {summary.files} tệp, {summary.scans} bản quét, {len(summary.skipped)} bỏ qua, '
        f"{summary.already_done} đã xử lý từ trước.",
        f"Lần chạy này: {summary.cards} thẻ ({counts['ok']} đủ hai mặt, {counts['partial']} thiếu mặt), "
        f"{counts['failed']} tệp lỗi, {counts['retry']} sẽ thử lại; {summary.seconds:.1f} s, {rate:.2f} thẻ/s.",
    ]
    if summary.pairings:
        how = ", ".join(f"{name} {count}" for name, count in summary.pairings.most_common())
        lines.append(f"Ghép mặt: {how}.")
    if summary.repaired:
        lines.append(f"Đã sửa {summary.repaired} kết quả của lần chạy bị dừng trước đó.")
    lines.append(f"Kết quả: {summary.out_dir / 'results.jsonl'}; báo cáo lỗi: {summary.out_dir / 'report.csv'}")
    return "\n".join(lines)


@click.command("batch")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: one PDF per card, results.jsonl, report.csv (outside FOLDER).",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 256),
    default=None,
    help=f"Worker processes (default: one per CPU, here {len(os.sched_getaffinity(0))}; 0: in this process).",
)
@click.option(
    "--database-url",
    envvar="MOTCUA_DATABASE_URL",
    default=None,
    help="Database for the drafts (default: MOTCUA_DATABASE_URL, else SQLite in the instance folder).",
)
@click.option("--batch", "batch_name", default=None, help="The batch's name for reviewers (default: OUT's name).")
@click.option("--unit", "unit_code", default=None, help="Code of the unit the drafts are for.")
@click.option(
    "--broker",
    envvar="MOTCUA_BROKER_URL",
    default=None,
    help="Redis URL (default: MOTCUA_BROKER_URL): queue the jobs for `motcua worker`s instead of running them here.",
)
@click.option("--local", is_flag=True, help="Run the jobs on this machine even when MOTCUA_BROKER_URL is set.")
@click.option(
    "--job-timeout",
    type=click.FloatRange(1, None),
    default=120,  # intake.batch.JOB_TIMEOUT, not imported here: it would load OpenCV for `motcua --help`
    show_default=True,
    metavar="SECONDS",
    help="Time limit of one job (one card, or one file of many cards): a job over it has its worker process killed "
    "and replaced, is listed in report.csv and is tried again by the next run (no limit with --workers 0).",
)
@click.option("--quiet", is_flag=True, help="No progress bar and no summary (for scripts); errors still go to stderr.")
def batch(
    folder: Path,
    out_dir: Path,
    workers: int | None,
    database_url: str | None,
    batch_name: str | None,
    unit_code: str | None,
    broker: str | None,
    local: bool,
    job_timeout: float,
    quiet: bool,
) -> None:
    """Process every scan under FOLDER: pair each card's sides, write its PDF and a draft for review.

    Safe to stop and run again at any time: what is done is skipped, nothing is done twice.
    """
    # Imported here: `motcua --help` and the other commands need not load OpenCV and Tesseract.
    from intake.batch import BatchError, run_batch
    from intake.errors import ExitCode
    from web.app import create_app

    logging.basicConfig(level=logging.WARNING, format="motcua: %(message)s")
    # The web application's configuration decides the defaults, so the drafts land where the counter looks.
    app = create_app({"DATABASE_URL": database_url} if database_url else None)
    url = app.config["DATABASE_URL"]
    storage = Path(app.config["STORAGE"])
    app.extensions["motcua"].engine.dispose()
    runner: Callable[[BatchContext], JobRunner] | None = None
    if broker and not local:
        if workers is not None:
            raise click.UsageError("--workers counts this machine's processes: with --broker the workers are the "
                                   "`motcua worker`s (or add --local)")  # fmt: skip
        workers, runner = _queue(broker, quiet, job_timeout)
    progress = None if quiet else RichProgress(queued=runner is not None)
    try:
        summary = run_batch(
            folder,
            out_dir,
            database_url=url,
            storage=storage,
            workers=workers,
            batch_name=batch_name,
            unit_code=unit_code,
            progress=progress,
            runner=runner,
            job_timeout=job_timeout,
        )
    except BatchError as error:
        click.echo(f"motcua: {error}", err=True)
        sys.exit(int(ExitCode.usage))
    except KeyboardInterrupt:
        click.echo("motcua: stopped; run the same command again to finish the batch", err=True)
        sys.exit(130)
    if not quiet:
        click.echo(_summary(summary))


def _queue(broker: str, quiet: bool, job_timeout: float) -> tuple[int, Callable[[BatchContext], JobRunner]]:
    """The workers' processes that answer now, and the runner that queues the batch's jobs for them."""
    from kombu.utils.url import maybe_sanitize_url

    from intake.errors import ExitCode
    from intake.tasks import BrokerError, CeleryRunner, make_app, worker_processes

    try:
        app = make_app(broker)
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=2, interval_start=0.5)
        processes = worker_processes(app)
        app.close()
    except BrokerError as error:
        raise click.BadParameter(str(error), param_hint="--broker") from error
    except Exception as error:  # kombu's connection errors: the broker is down or the URL wrong
        click.echo(f"motcua: cannot reach the broker {maybe_sanitize_url(broker)}: {error}", err=True)
        sys.exit(int(ExitCode.error))
    if not processes and not quiet:
        click.echo("motcua: no worker answers yet; the jobs wait in the queue until `motcua worker` runs", err=True)
    return processes, lambda context: CeleryRunner(context, broker, job_timeout=job_timeout)


@click.command("worker")
@click.option(
    "--broker",
    envvar="MOTCUA_BROKER_URL",
    required=True,
    help="Redis URL of the queue (default: MOTCUA_BROKER_URL), the same as `motcua batch --broker`'s.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help=f"Processes, each with its own Tesseract (default: one per CPU, here {len(os.sched_getaffinity(0))}).",
)
@click.option(
    "--database-url",
    envvar="MOTCUA_DATABASE_URL",
    default=None,
    help="The batch's database, as this machine reaches it (default: MOTCUA_DATABASE_URL): PostgreSQL.",
)
@click.option(
    "--storage",
    envvar="MOTCUA_STORAGE",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="The shared storage folder, as mounted on this machine (default: MOTCUA_STORAGE).",
)
@click.option("--name", default=None, help="The worker's name among the others (default: motcua-PID@HOST).")
@click.option(
    "--redeliver-after",
    envvar="MOTCUA_REDELIVER_AFTER",
    type=click.IntRange(1, None),
    default=None,
    help="Seconds after which the job of a worker that vanished (its machine down) goes to another; longer than "
    "any one job (default: 600).",
)
@click.option("--loglevel", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING"]))
def worker(
    broker: str,
    concurrency: int | None,
    database_url: str | None,
    storage: Path | None,
    name: str | None,
    redeliver_after: int | None,
    loglevel: str,
) -> None:
    """Run the jobs that `motcua batch --broker` queues, until stopped (Ctrl+C lets running jobs finish).

    Start one on each machine that shares the database and the storage folder; any number may run.
    """
    os.environ["OMP_THREAD_LIMIT"] = "1"  # before Tesseract loads anywhere
    from kombu.utils.url import maybe_sanitize_url

    from forms.db import current_revision
    from intake.tasks import REDELIVER_AFTER, BrokerError, WorkerSettings, check_broker, run_worker
    from web.app import create_app

    try:
        check_broker(broker)
    except BrokerError as error:
        raise click.BadParameter(str(error), param_hint="--broker") from error
    config: dict[str, Any] = {"DATABASE_URL": database_url} if database_url else {}
    if storage is not None:
        config["STORAGE"] = str(storage)
    app = create_app(config or None)
    engine = app.extensions["motcua"].engine
    shown = engine.url.render_as_string(hide_password=True)
    try:
        revision = current_revision(engine)
    except Exception as error:  # SQLAlchemy's connection errors
        click.echo(f"motcua: cannot reach the database {shown}: {error}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()  # the worker's processes are forked: none may inherit a connection
    if revision is None:
        click.echo(f"motcua: the database {shown} has no tables yet: run `motcua db upgrade`", err=True)
        sys.exit(1)
    if engine.url.get_backend_name() == "sqlite":
        click.echo("motcua: warning: SQLite cannot be shared by workers of several machines; use PostgreSQL", err=True)
    processes = concurrency or len(os.sched_getaffinity(0))
    settings = WorkerSettings(app.config["DATABASE_URL"], str(Path(app.config["STORAGE"]).resolve()))
    click.echo(
        f"motcua worker: {processes} processes; queue {maybe_sanitize_url(broker)}; database {shown}; "
        f"storage {settings.storage}",
        err=True,
    )
    run_worker(
        broker,
        settings,
        concurrency=processes,
        name=name or f"motcua-{os.getpid()}@%h",
        loglevel=loglevel,
        redeliver_after=redeliver_after or REDELIVER_AFTER,
    )
