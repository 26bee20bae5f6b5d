"""`motcua batch`: a folder of scans to PDFs, results.jsonl, report.csv and drafts for review, with a progress bar."""

from __future__ import annotations

import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from intake.batch import BatchSummary


class RichProgress:
    """The batch's progress as a rich bar: files done of all, cards ok / one side / failed, rate and time left."""

    def __init__(self) -> None:
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

    def start(self, files: int, workers: int) -> None:
        self.progress.start()
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
@click.option("--quiet", is_flag=True, help="No progress bar and no summary (for scripts); errors still go to stderr.")
def batch(
    folder: Path,
    out_dir: Path,
    workers: int | None,
    database_url: str | None,
    batch_name: str | None,
    unit_code: str | None,
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
    progress = None if quiet else RichProgress()
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
        )
    except BatchError as error:
        click.echo(f"motcua: {error}", err=True)
        sys.exit(int(ExitCode.usage))
    except KeyboardInterrupt:
        click.echo("motcua: stopped; run the same command again to finish the batch", err=True)
        sys.exit(130)
    if not quiet:
        click.echo(_summary(summary))
