"""The station's scan folder (`motcua watch`) and scanner (`motcua scan`): real scans, database, scanimage.

[Quét] on the counter page is tested with the other counter views, in test_web.py."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlmodel import Session, col, select
from test_web import Counter, counter  # noqa: F401  (the counter application on both databases)

from forms.db import make_engine, upgrade
from forms.models import AccountRequest, StationScan, StoredFile
from intake.watch import DONE, FAILED, FolderWatcher, Outcome, Station, ignored

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"
# c001: a chip CCCD, one side per file (front SCAN0140, back SCAN0143); c006: both sides on one page.
FRONT, BACK, BOTH = "SCAN0140.JPG", "SCAN0143.JPG", "SCAN0158.JPG"
IN_CI = os.environ.get("CI", "").lower() == "true"


def truth(file: str) -> dict[str, Any]:
    cases = json.loads((SAMPLES / "truth.json").read_text(encoding="utf-8"))["cases"]
    found: dict[str, Any] = next(case for case in cases if any(entry["file"] == file for entry in case["files"]))
    return found


def id_number_of(row: StationScan) -> str | None:
    value: str | None = json.loads(row.reading or "{}").get("prefill", {}).get("id_number", {}).get("value")
    return value


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    made = make_engine(f"sqlite:///{tmp_path / 'motcua.db'}")
    upgrade(made)
    yield made
    made.dispose()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    made = tmp_path / "station"
    made.mkdir()
    return made


def station_of(engine: Any, tmp_path: Path, **options: Any) -> Station:
    return Station(engine, tmp_path / "storage", name="quay-1", **options)


def rows(engine: Any) -> list[StationScan]:
    with Session(engine) as session:
        return list(session.exec(select(StationScan).order_by(col(StationScan.id))).all())


def test_temporary_and_hidden_names_are_left_alone() -> None:
    for name in (".scan0001.jpg", "scan0001.jpg~", "scan0001.jpg.part", "SCAN.TMP", "a.crdownload", "Thumbs.db"):
        assert ignored(name), name
    for name in ("scan0001.jpg", "SCAN0143.JPG", "the.tmp.pdf", "ghi-chu.txt"):
        assert not ignored(name), name


def test_a_file_written_slowly_is_taken_once_complete_and_once(engine: Any, tmp_path: Path, folder: Path) -> None:
    data = (SAMPLES / BOTH).read_bytes()
    target = folder / BOTH
    finished: list[float] = []

    def scanner() -> None:
        # As a slow flatbed writes: 30 chunks over about 3 s, with one pause longer than the watcher's look
        # (0.2 s) but shorter than its settle time (1.5 s).
        chunks = np.array_split(np.frombuffer(data, np.uint8), 30)
        with target.open("wb") as out:
            for index, chunk in enumerate(chunks):
                out.write(chunk.tobytes())
                out.flush()
                time.sleep(1.0 if index == 12 else 0.07)
        finished.append(time.monotonic())

    outcomes: list[tuple[float, Outcome]] = []
    watcher = FolderWatcher(
        folder, station_of(engine, tmp_path), settle=1.5, interval=0.2,
        on_outcome=lambda outcome: outcomes.append((time.monotonic(), outcome)),
    )  # fmt: skip
    stop = threading.Event()
    watching = threading.Thread(target=watcher.run, args=(stop,))
    writing = threading.Thread(target=scanner)
    watching.start()
    writing.start()
    try:
        writing.join(timeout=20)
        deadline = time.monotonic() + 30
        while not outcomes and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)  # long enough for a second take, if there were going to be one
    finally:
        stop.set()
        watching.join(timeout=30)
    assert finished and len(outcomes) == 1, outcomes
    taken_at, outcome = outcomes[0]
    assert taken_at >= finished[0] + 1.5  # not before the file was complete and had settled
    assert outcome.moved_to == folder / DONE / BOTH and outcome.moved_to.read_bytes() == data
    assert not target.exists()
    (row,) = rows(engine)
    assert row.status == "ok" and row.sha256 == hashlib.sha256(data).hexdigest() and row.size == len(data)
    assert row.sides == "front,back" and row.moved_to == str(folder / DONE / BOTH)
    assert id_number_of(row) == truth(BOTH)["fields"]["id_number"]


def _blank_page() -> bytes:
    ok, jpeg = cv2.imencode(".jpg", np.full((1200, 900, 3), 255, np.uint8))
    assert ok
    return bytes(jpeg)


def test_files_there_at_start_are_read_paired_and_filed(engine: Any, tmp_path: Path, folder: Path) -> None:
    now = time.time()
    for age, name in ((30, FRONT), (10, BACK)):  # scanned front first, then back
        shutil.copy(SAMPLES / name, folder / name)
        os.utime(folder / name, (now - age, now - age))
    (folder / "ghi-chu.txt").write_text("không phải bản quét")
    (folder / "trang.jpg").write_bytes(_blank_page())
    (folder / "rong.jpg").write_bytes(b"")
    (folder / ".dang-quet.jpg").write_bytes(b"\xff\xd8\xff")  # hidden: scanner software still writing
    (folder / "scan0009.jpg.part").write_bytes(b"\xff\xd8\xff")
    (folder / DONE).mkdir()
    (folder / DONE / FRONT).write_bytes(b"yesterday's scan of the same name")

    outcomes = FolderWatcher(folder, station_of(engine, tmp_path), settle=0.3, interval=0.1).drain(timeout=60)

    assert sorted(outcome.name for outcome in outcomes) == sorted([FRONT, BACK, "ghi-chu.txt", "trang.jpg", "rong.jpg"])
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        [".dang-quet.jpg", "scan0009.jpg.part", DONE, FAILED]
    )
    done = folder / DONE
    assert (done / FRONT).read_bytes() == b"yesterday's scan of the same name"  # a clash gets a suffix
    assert (done / "SCAN0140-1.JPG").read_bytes() == (SAMPLES / FRONT).read_bytes()
    assert (done / BACK).read_bytes() == (SAMPLES / BACK).read_bytes()
    notes = {path.name: path.read_text(encoding="utf-8") for path in (folder / FAILED).glob("*.txt")}
    assert sorted(path.name for path in (folder / FAILED).iterdir()) == sorted(
        ["ghi-chu.txt", "ghi-chu.txt.txt", "trang.jpg", "trang.jpg.txt", "rong.jpg", "rong.jpg.txt"]
    )
    assert "không phải ảnh quét" in notes["ghi-chu.txt.txt"]
    assert "Không tìm thấy thẻ CMND/CCCD" in notes["trang.jpg.txt"]
    assert "rỗng" in notes["rong.jpg.txt"]

    recorded = {row.name: row for row in rows(engine)}
    front, back = recorded[FRONT], recorded[BACK]
    assert front.status == back.status == "ok" and front.sides == "front" and back.sides == "back"
    assert back.partner_id == front.id  # the back completes the front: its reading covers both sides
    reading = json.loads(back.reading or "{}")
    assert sorted(reading["files"]["cards"]) == ["back", "front"] and len(reading["files"]["scans"]) == 2
    assert id_number_of(back) == truth(BACK)["fields"]["id_number"]
    storage = tmp_path / "storage"
    assert all(
        (storage / ref["path"]).is_file() for ref in [*reading["files"]["scans"], reading["files"]["attachment"]]
    )
    assert recorded["trang.jpg"].status == "failed" and recorded["trang.jpg"].path is None
    assert all(row.moved_to for row in recorded.values())


def test_another_citizens_back_does_not_complete_the_front(engine: Any, tmp_path: Path) -> None:
    station = station_of(engine, tmp_path)
    front = station.record(FRONT, (SAMPLES / FRONT).read_bytes(), source="folder")
    other = station.record("doc00602.jpg", (SAMPLES / "doc00602.jpg").read_bytes(), source="folder")  # c023's back
    assert front.sides == "front" and other.sides == "back" and other.partner_id is None
    assert truth("doc00602.jpg")["fields"]["id_number"] != truth(FRONT)["fields"]["id_number"]


def test_each_file_is_read_once_even_when_the_watcher_stops_between_reading_and_filing(
    engine: Any, tmp_path: Path, folder: Path
) -> None:
    shutil.copy(SAMPLES / BOTH, folder / BOTH)
    shutil.copy(SAMPLES / FRONT, folder / FRONT)

    class PowerCut(FolderWatcher):
        """Dies after the scan is recorded and before its file is moved."""

        def _file(self, path: Path, row: StationScan) -> Outcome:
            if path.name == BOTH:
                raise RuntimeError("power cut")
            return super()._file(path, row)

    first = PowerCut(folder, station_of(engine, tmp_path), settle=0.3, interval=0.1)
    first.drain(timeout=3)
    assert (folder / BOTH).exists() and (folder / DONE / FRONT).exists()
    assert sorted((row.name, row.moved_to is None) for row in rows(engine)) == [(FRONT, False), (BOTH, True)]

    # The restart: a new process, a new station. The recorded scan is filed, not read again.
    restarted = FolderWatcher(folder, station_of(engine, tmp_path), settle=0.3, interval=0.1)
    outcomes = restarted.drain(timeout=30)
    assert [outcome.name for outcome in outcomes] == [BOTH]
    assert not (folder / BOTH).exists() and (folder / DONE / BOTH).exists()
    assert sorted((row.name, row.moved_to is None) for row in rows(engine)) == [(FRONT, False), (BOTH, False)]
    # And a third start finds nothing to do: done/ and failed/ are never looked into.
    assert FolderWatcher(folder, station_of(engine, tmp_path), settle=0.3, interval=0.1).drain(timeout=5) == []
    assert len(rows(engine)) == 2


def test_the_counter_page_sees_a_new_station_scan_and_takes_it(counter: Counter, tmp_path: Path) -> None:  # noqa: F811
    engine = counter.app.extensions["motcua"].engine
    storage = counter.app.extensions["motcua"].storage
    station = Station(engine, storage, name="quay-1", unit_id=counter.units["P5"])
    desk = counter.desk()
    url = desk.new_request()
    page = desk.client.get(url).get_data(as_text=True)
    after = int(page.split('data-station-after="')[1].split('"')[0])
    assert desk.client.get(f"/accounts/station/latest?after={after}").get_json() == {"scans": [], "last": after}

    front = station.record(FRONT, (SAMPLES / FRONT).read_bytes(), source="folder")
    feed = desk.client.get(f"/accounts/station/latest?after={after}").get_json()
    (shown,) = feed["scans"]
    assert shown["id"] == front.id == feed["last"] and shown["status"] == "ok" and shown["sides"] == ["front"]
    assert shown["complete"] is False and shown["taken_by"] is None
    assert shown["id_number"] == truth(FRONT)["fields"]["id_number"]

    taken = desk.client.post(url + "/station-scans", data={"scan_id": front.id}, headers={"X-CSRFToken": desk.token})
    assert taken.status_code == 200, taken.get_data(as_text=True)
    assert taken.get_json()["fields"]["id_number"]["value"] == truth(FRONT)["fields"]["id_number"]
    assert desk.client.get(taken.get_json()["fields"]["full_name"]["crop_url"]).data[:2] == b"\xff\xd8"

    back = station.record(BACK, (SAMPLES / BACK).read_bytes(), source="folder")
    (shown,) = desk.client.get(f"/accounts/station/latest?after={front.id}").get_json()["scans"]
    assert shown["partner"] == front.id and shown["complete"] is True and shown["sides"] == ["back"]
    taken = desk.client.post(url + "/station-scans", data={"scan_id": back.id}, headers={"X-CSRFToken": desk.token})
    assert taken.status_code == 200, taken.get_data(as_text=True)
    body = taken.get_json()
    assert body["station_scan"] == back.id and body["partner"] == front.id
    pdf = desk.client.get(body["attachment"]["url"]).data
    assert pdf.startswith(b"%PDF")
    reloaded = desk.client.get(url).get_data(as_text=True)
    assert f'value="{truth(BACK)["fields"]["id_number"]}"' in reloaded and "File đính kèm" in reloaded
    with counter.session() as session:
        request = session.exec(select(AccountRequest)).one()
        kinds = sorted(f.kind for f in session.exec(select(StoredFile).where(StoredFile.id == request.attachment_id)))
        assert kinds == ["attachment"]
        assert {row.request_id for row in session.exec(select(StationScan))} == {request.id}
    assert f'data-station-taken="{front.id},{back.id}"' in reloaded

    # Another unit's officer neither sees nor takes this unit's station scans; a failed scan is shown with why.
    other = counter.desk("hung")
    other_url = other.new_request()
    assert other.client.get("/accounts/station/latest?after=0").get_json()["scans"] == []
    refused = other.client.post(other_url + "/station-scans", data={"scan_id": back.id},
                                headers={"X-CSRFToken": other.token})  # fmt: skip
    assert refused.status_code == 404
    failed = station.record("trang.jpg", _blank_page(), source="folder")
    (shown,) = desk.client.get(f"/accounts/station/latest?after={back.id}").get_json()["scans"]
    assert shown["status"] == "failed" and "Không tìm thấy thẻ" in shown["error"] and shown["id"] == failed.id
    refused = desk.client.post(url + "/station-scans", data={"scan_id": failed.id}, headers={"X-CSRFToken": desk.token})
    assert refused.status_code == 409


# ---------------------------------------------------------------- the scanner (SANE's test device)


def _scanimage_or_skip() -> None:
    if shutil.which("scanimage") is None:
        reason = "scanimage is missing: install sane-utils (the Makefile does) to test the scanner"
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)


def test_motcua_scan_writes_a_300_dpi_scan_that_the_watcher_reads(engine: Any, tmp_path: Path, folder: Path) -> None:
    from PIL import Image

    _scanimage_or_skip()
    motcua = Path(sys.executable).with_name("motcua")
    done = subprocess.run([str(motcua), "scan", "--device", "test", "--output", str(folder)],
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (made,) = list(folder.iterdir())  # no temporary file left behind
    assert made.name.startswith("scan-") and made.suffix == ".tif" and str(made) in done.stdout
    with Image.open(made) as image:
        assert image.format == "TIFF" and image.mode == "RGB"
        assert tuple(round(float(v)) for v in image.info["dpi"]) == (300, 300)
        # SANE's test device scans 80 × 100 mm by default: at 300 dpi, about 945 × 1181 pixels.
        assert abs(image.size[0] - 945) <= 2 and abs(image.size[1] - 1181) <= 2

    # The test device gives a black page, not a card: the same flow files it as failed, with its reason.
    (outcome,) = FolderWatcher(folder, station_of(engine, tmp_path), settle=0.3, interval=0.1).drain(timeout=60)
    assert outcome.scan.status == "failed" and outcome.moved_to.parent == folder / FAILED
    note = outcome.moved_to.with_name(outcome.moved_to.name + ".txt").read_text(encoding="utf-8")
    assert "Không tìm thấy thẻ CMND/CCCD" in note and made.name in note

    from click.testing import CliRunner

    from web.station_cli import scan

    refused = CliRunner().invoke(scan, ["--device", "khong-co-may-nay", "--output", str(folder)])
    assert refused.exit_code == 1 and "cannot be opened" in refused.output


def test_scanner_failures_are_told_in_the_officers_words() -> None:
    from intake.scanner import ScannerError, _translate, scan_page

    assert "Nắp máy quét đang mở" in _translate("test", 8, "scanimage: sane_read: Scanner cover is open").vietnamese
    assert "đang bận" in _translate("test", 3, "scanimage: sane_read: Device busy").vietnamese
    _scanimage_or_skip()
    with pytest.raises(ScannerError) as raised:
        scan_page("khong-co-may-nay")
    assert "Không mở được máy quét khong-co-may-nay" in raised.value.vietnamese


def test_the_station_button_takes_the_watchers_newest_scan_when_the_folder_is_empty(
    counter: Counter,  # noqa: F811
    tmp_path: Path,
) -> None:
    folder = tmp_path / "station"
    (folder / DONE).mkdir(parents=True)
    counter.app.extensions["motcua"].scan_folder = folder
    services = counter.app.extensions["motcua"]
    Station(services.engine, services.storage, name="quay-1").record(
        BOTH, (SAMPLES / BOTH).read_bytes(), source="folder"
    )
    desk = counter.desk()
    url = desk.new_request()
    response = desk.client.post(url + "/station", headers={"X-CSRFToken": desk.token})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["fields"]["id_number"]["value"] == truth(BOTH)["fields"]["id_number"]
