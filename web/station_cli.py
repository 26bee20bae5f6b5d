"""`motcua watch` and `motcua scan`: the counter station's scan folder, and its flatbed driven through SANE."""

from __future__ import annotations

import logging
import os
import signal
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click


def _announce(outcome: Any) -> None:
    from intake.watch import describe

    where = outcome.moved_to.parent.name + "/" + outcome.moved_to.name
    click.echo(f"{datetime.now():%H:%M:%S} {outcome.name} → {where}: {describe(outcome.scan)}")


@click.command("watch")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--station",
    "station_name",
    envvar="MOTCUA_STATION",
    default=None,
    help="The station's name (default: MOTCUA_STATION, else this machine's name, as the counter's [Quét] uses).",
)
@click.option("--unit", "unit_code", default=None, help="Code of the unit whose officers see the scans (default: all).")
# Defaults are intake.watch's (1.5 s, 0.5 s); not imported here, so that `motcua --help` loads no OpenCV.
@click.option(
    "--settle",
    type=click.FloatRange(0.2, 60.0),
    default=None,
    help="Seconds a file's size and time must stay unchanged before it is taken [default: 1.5].",
)
@click.option(
    "--interval", type=click.FloatRange(0.1, 10.0), default=None, help="Seconds between looks [default: 0.5]."
)
@click.option("--once", is_flag=True, help="Process the files there now (once settled), then stop.")
@click.option(
    "--database-url",
    envvar="MOTCUA_DATABASE_URL",
    default=None,
    help="Database the counter reads (default: MOTCUA_DATABASE_URL, else SQLite in the instance folder).",
)
def watch(
    folder: Path,
    station_name: str | None,
    unit_code: str | None,
    settle: float | None,
    interval: float | None,
    once: bool,
    database_url: str | None,
) -> None:
    """Read every scan saved into FOLDER and show it on the counter's page; file it in FOLDER/done or FOLDER/failed.

    A file is taken once it has stopped growing; files there at start are taken too. A failed file gets a note
    (FILE.txt) saying why. Stop with Ctrl+C; a restart never reads a file twice.
    """
    from sqlmodel import Session, select

    from forms.db import upgrade
    from forms.models import Unit
    from intake.watch import FolderWatcher, Station, WatchError, only_watcher
    from web.app import create_app

    logging.basicConfig(level=logging.WARNING, format="motcua: %(message)s")
    # The web application's configuration decides the defaults, so the scans land where the counter looks.
    app = create_app({"DATABASE_URL": database_url} if database_url else None)
    engine = app.extensions["motcua"].engine
    upgrade(engine)
    unit_id = None
    if unit_code:
        with Session(engine) as session:
            unit = session.exec(select(Unit).where(Unit.code == unit_code)).first()
        if unit is None:
            raise click.BadParameter(f"no unit with code {unit_code}", param_hint="--unit")
        unit_id = unit.id
    station = Station(
        engine, Path(app.config["STORAGE"]), name=station_name or app.config.get("STATION"), unit_id=unit_id
    )
    watcher = FolderWatcher(folder, station, on_outcome=_announce)
    watcher.settle = settle if settle is not None else watcher.settle
    watcher.interval = interval if interval is not None else watcher.interval
    stop = threading.Event()
    # SIGTERM (systemd stopping the service) finishes the file in hand, then stops.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    try:
        with only_watcher(folder):
            if once:
                watcher.drain()
                return
            click.echo(f"Đang theo dõi {folder} (trạm {station.name}); Ctrl+C để dừng.")
            watcher.run(stop)
    except WatchError as error:
        click.echo(f"motcua: {error}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Đã dừng theo dõi.")
    finally:
        engine.dispose()


@click.command("scan")
@click.option(
    "--device",
    envvar="MOTCUA_SCANNER",
    required=True,
    help="SANE device (default: MOTCUA_SCANNER; `scanimage -L` lists them; `test` is SANE's test device).",
)
@click.option(
    "--output",
    "output",
    envvar="MOTCUA_SCAN_FOLDER",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The station's scan folder, which `motcua watch` reads (default: MOTCUA_SCAN_FOLDER).",
)
@click.option("--resolution", type=click.IntRange(150, 600), default=300, show_default=True, help="Dots per inch.")
@click.option("--name", default=None, help="The file's name (default: scan-YYYYMMDD-HHMMSS.tif).")
def scan(device: str, output: Path, resolution: int, name: str | None) -> None:
    """Scan the flatbed (colour, TIFF) into the station's scan folder, for `motcua watch` to read.

    The file appears complete or not at all: it is written under a hidden name and renamed.
    """
    from intake.scanner import ScannerError, scan_page
    from intake.watch import free_name

    try:
        page = scan_page(device, resolution=resolution)
    except ScannerError as error:
        click.echo(f"motcua: {error}", err=True)
        sys.exit(int(error.exit_code))
    output.mkdir(parents=True, exist_ok=True)
    wanted = Path(name).name if name else f"scan-{datetime.now():%Y%m%d-%H%M%S}.tif"
    handle, temporary = tempfile.mkstemp(dir=output, prefix=".scan-", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(page.data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o640)
        target = free_name(output, wanted)
        os.rename(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    click.echo(f"{target}: {len(page.data) / 1024:.0f} KB, {resolution} dpi ({time.strftime('%H:%M:%S')})")
