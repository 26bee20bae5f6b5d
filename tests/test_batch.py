"""`motcua batch`: pairing across a folder, reruns, a real kill -9 mid-run, bad files, a worker that dies."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from sqlmodel import Session, select

from forms.db import make_engine
from forms.models import AccountRequest, Batch, BatchItem, BatchSide, StoredFile
from intake.batch import (
    HANG,
    KEPT_SIDES,
    RESULTS,
    BatchContext,
    ItemOutcome,
    JobResult,
    Runner,
    ScanFile,
    SurveyJob,
    run_batch,
)
from intake.batch_pairing import LooseSide, SideNumber, pair_by_name, pair_loose_sides
from intake.messages import CRASHED, TIMED_OUT
from ocr.reading import FieldReading

MOTCUA = Path(sys.executable).parent / "motcua"


# ---------------------------------------------------------------------------------------------------------
# Helpers


def _case(cases: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(case for case in cases if case["case"] == name)


def _sides(case: dict[str, Any]) -> dict[str, str]:
    """side → file of a case whose two sides are in two files."""
    return {entry["pages"][0]["cards"][0]["side"]: entry["file"] for entry in case["files"]}


def _put(samples: Path, file: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(samples / file, target)


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS).read_text(encoding="utf-8").splitlines()]


def _report(out: Path) -> dict[str, list[str]]:
    with (out / "report.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Tệp", "Tình trạng", "Lý do", "Số CMND/CCCD", "Tệp PDF"]
    return {row[0]: row for row in rows[1:]}


def _tree(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under `folder`: size and SHA-256, to show it was not touched."""
    return {
        path.relative_to(folder).as_posix(): (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _outputs(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(out.iterdir()) if path.is_file()}


def _check_card_by_card(out: Path, placed: dict[str, tuple[str, str]], cases: list[dict[str, Any]]) -> None:
    """Each citizen exactly once in results.jsonl, with all their files and their number; every PDF opens."""
    lines = _lines(out)
    seen: dict[str, int] = {}
    for line in lines:
        owners = {placed[entry["path"]][0] for entry in line["files"]}
        assert len(owners) == 1, f"one item mixes citizens {owners}: {[e['path'] for e in line['files']]}"
        owner = owners.pop()
        seen[owner] = seen.get(owner, 0) + 1
        case = _case(cases, owner)
        assert line["status"] == "ok", line
        assert {entry["path"] for entry in line["files"]} == {n for n, (c, _) in placed.items() if c == owner}
        assert line["id_number"] == case["fields"]["id_number"]
        with pymupdf.open(out / line["pdf"]) as pdf:
            assert pdf.page_count == 1
    assert seen == dict.fromkeys({case for case, _ in placed.values()}, 1)
    assert not list(out.glob(".*")), "a temporary file was left behind"


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in ("scans", "out", "storage")}
    folders["scans"].mkdir()
    return folders


# ---------------------------------------------------------------------------------------------------------
# Pairing rules, without images


def test_names_that_pair() -> None:
    names = [
        "a/NGUYEN VAN A_front.jpg",
        "a/NGUYEN VAN A_back.jpg",
        "a/Trần Thị B - mặt trước.png",
        "a/Trần Thị B - mặt sau.png",
        "b/hs12_mt.jpg",
        "b/hs12_ms.jpg",
        "b/hs13_1.jpg",
        "b/hs13_2.tif",
        "b/0014a.jpg",
        "b/0014b.jpg",
        "c/x_front.jpg",  # in another folder than its back: no pair
        "d/x_back.jpg",
        "e/y_front.jpg",  # two fronts for one back: the content decides
        "e/y_front.pdf",
        "e/y_back.jpg",
        "f/feedback.jpg",
        "f/data.jpg",
        "f/scan_0001.jpg",  # numbers: consecutive, not "1/2"
        "f/scan_0002.jpg",
    ]
    pairs, alone = pair_by_name(names)
    assert {(names[a], names[b], rule) for a, b, rule in pairs} == {
        ("a/NGUYEN VAN A_front.jpg", "a/NGUYEN VAN A_back.jpg", "front/back"),
        ("a/Trần Thị B - mặt trước.png", "a/Trần Thị B - mặt sau.png", "front/back"),
        ("b/hs12_mt.jpg", "b/hs12_ms.jpg", "front/back"),
        ("b/hs13_1.jpg", "b/hs13_2.tif", "1/2"),
        ("b/0014a.jpg", "b/0014b.jpg", "a/b"),
    }
    assert [names[i] for i in alone] == names[10:]


def _loose(name: str, order: int, side: str, kind: str, *numbers: tuple[str, str, bool]) -> LooseSide:
    return LooseSide(name, order, 0, 0, side, kind, [SideNumber(v, source, sure) for v, source, sure in numbers])


def test_loose_sides_pair_by_number_then_consecutive_names_then_neighbours() -> None:
    sides = [
        _loose("x/a.jpg", 0, "front", "cccd_chip", ("001203004005", "print", True)),
        _loose("x/b.jpg", 1, "front", "cmnd9", ("123456789", "print", True)),
        _loose("y/c.jpg", 2, "back", "cccd_chip", ("001203004005", "mrz", True)),  # a's, in another folder
        _loose("x/scan_0007.jpg", 3, "back", "cmnd"),
        _loose("x/scan_0006.jpg", 4, "front", "cmnd12", ("012345678901", "print", True)),
        _loose("x/d.jpg", 5, "front", "cancuoc2024", ("079190000123", "print", False)),  # one digit misread
        _loose("x/e.jpg", 6, "back", "cancuoc2024", ("079190000128", "qr", True)),
        _loose("x/IMG_20240601_090012.jpg", 7, "front", "cmnd9", ("111222333", "print", True)),
        _loose("x/IMG_20240601_090547.jpg", 8, "back", "cmnd"),
        _loose("x/p0031.jpg", 9, "back", "cccd_barcode", ("040000000001", "qr", True)),  # the next one's is other
        _loose("x/p0032.jpg", 10, "front", "cccd_barcode", ("040000000099", "print", True)),
        _loose("x/q.jpg", 11, "front", "cmnd9", ("222333444", "print", True)),
        _loose("x/r.png", 12, "back", "cmnd"),  # next to q, but of another naming series
        _loose("x/s0050.jpg", 13, "front", "cmnd12", ("012345678999", "print", True)),
        _loose("x/s0057.jpg", 14, "back", "cmnd"),  # next in the listing, but the counter skipped six scans
    ]
    pairs, alone = pair_loose_sides(sides)
    got = {(sides[a].name, sides[b].name, how) for a, b, how in pairs}
    assert got == {
        ("x/a.jpg", "y/c.jpg", "number"),
        ("x/d.jpg", "x/e.jpg", "number"),
        ("x/scan_0006.jpg", "x/scan_0007.jpg", "consecutive names"),
        ("x/IMG_20240601_090012.jpg", "x/IMG_20240601_090547.jpg", "order"),
    }
    # b has no back; p0031 and p0032 are neighbours but their numbers say two people; q and r are not one series;
    # between s0050 and s0057 other scans were made.
    alone_names = {"x/b.jpg", "x/p0031.jpg", "x/p0032.jpg", "x/q.jpg", "x/r.png", "x/s0050.jpg", "x/s0057.jpg"}
    assert {sides[i].name for i in alone} == alone_names


# ---------------------------------------------------------------------------------------------------------
# Pairing on real scans, every layout in one folder


def test_sides_are_paired_in_every_layout(samples: Path, sample_cases: list[dict[str, Any]], places: Any) -> None:
    scans, out = places["scans"], places["out"]
    placed: dict[str, tuple[str, str]] = {}

    def put(case: str, file: str, name: str) -> None:
        _put(samples, file, scans / name)
        placed[name] = (case, file)

    layouts = {  # folder: (cases, how they must be paired)
        "front_back": (["c001", "c005"], "names front/back"),
        "mt_ms": (["c015", "c016"], "names front/back"),
        "one_two": (["c017", "c019"], "names 1/2"),
        "a_b": (["c022", "c023"], "names a/b"),
        "consecutive": (["c003", "c004"], "consecutive names"),
        "order": (["c026", "c027"], "order"),
        "no_hints": (["c002", "c024", "c030"], "number"),
        "one_file": (["c006", "c011"], "one file"),
    }
    for folder, (names, _) in layouts.items():
        for n, name in enumerate(names):
            case = _case(sample_cases, name)
            if folder == "one_file":
                file = case["files"][0]["file"]
                put(name, file, f"{folder}/{hashlib.md5(name.encode()).hexdigest()[:10]}{Path(file).suffix}")
                continue
            side = _sides(case)
            ext = {s: Path(f).suffix for s, f in side.items()}
            if folder == "front_back":
                named = {"front": f"CD{n}_front", "back": f"CD{n}_back"}
            elif folder == "mt_ms":
                named = {"front": f"Nguyễn {n} mt", "back": f"Nguyễn {n} ms"}
            elif folder == "one_two":  # the first citizen's back was scanned first: the content says which is which
                named = {"front": f"hs{n}_{2 - (n == 0)}", "back": f"hs{n}_{1 + (n == 0)}"}
            elif folder == "a_b":
                named = {"front": f"{40 + n:04d}a", "back": f"{40 + n:04d}b"}
            elif folder == "consecutive":  # the second citizen's back first
                first, second = (("front", "back"), ("back", "front"))[n]
                named = {first: f"scan_{10 + 2 * n:04d}", second: f"scan_{11 + 2 * n:04d}"}
            elif folder == "order":  # times: one after the other, but not consecutive numbers
                named = {"front": f"IMG_20240601_09{n}012", "back": f"IMG_20240601_09{n}547"}
            else:  # no hints: names sorted so that order would mislead (all fronts, then all backs)
                named = {"front": f"a{hashlib.md5(name.encode()).hexdigest()[:8]}", "back": f"b{n}"}
            for s, file in side.items():
                put(name, file, f"{folder}/{named[s]}{ext[s]}")

    summary = run_batch(scans, out, database_url=f"sqlite:///{places['storage'].parent / 'p.db'}",
                        storage=places["storage"], workers=0)  # fmt: skip
    lines = _lines(out)
    problems = []
    for folder, (names, how) in layouts.items():
        mine = [line for line in lines if line["files"][0]["path"].startswith(folder + "/")]
        for line in mine:
            owners = {placed[entry["path"]][0] for entry in line["files"]}
            files = {entry["path"] for entry in line["files"]}
            expected = {n for n, (c, _) in placed.items() if c in owners}
            if len(owners) != 1 or files != expected or line["pairing"] != how or line["status"] != "ok":
                problems.append(f"{folder}: {line['pairing']} {line['status']} {sorted(files)} of {owners}")
            elif line["id_number"] != _case(sample_cases, owners.pop())["fields"]["id_number"]:
                problems.append(f"{folder}: {sorted(files)}: number read {line['id_number']}")
        if len(mine) != len(names):
            problems.append(f"{folder}: {len(mine)} cards for {len(names)} citizens")
    assert not problems, "\n".join(problems)
    assert summary.counts["ok"] == sum(len(names) for names, _ in layouts.values())
    assert summary.counts["partial"] == summary.counts["failed"] == 0
    # The sides their files did not pair were kept for their partners' jobs, and taken away by them.
    kept = places["storage"] / KEPT_SIDES
    assert kept.is_dir() and not list(kept.iterdir())
    assert kept.stat().st_mode & 0o077 == 0


def test_a_kept_side_is_taken_whole_or_not_at_all(
    samples: Path, sample_cases: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A side kept for its partner's job comes back as the survey left it; a damaged or missing one is not used
    (the page is decoded again instead)."""
    import numpy as np

    from intake.batch import CardMeta, Loose, _keep_side, _kept_side, side_ref
    from intake.load import load_pages
    from intake.pipeline import straighten

    case = _case(sample_cases, "c002")
    name = _sides(case)["back"]
    data = (samples / name).read_bytes()
    file = ScanFile(str(samples / name), name, hashlib.sha256(data).hexdigest(), len(data))
    card = straighten(load_pages(data, name=name)[0])[0]
    outline = ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0))
    meta = CardMeta(page=0, card=0, corners=outline, turned=True, side=card.side,
                    document_type=card.document_type, orientation_confidence=1.0, evidence=("seal",))  # fmt: skip
    loose = Loose(file, meta, 1)
    storage = str(tmp_path / "storage")
    assert _kept_side(storage, loose, file) is None  # nothing kept yet
    _keep_side(storage, side_ref(file.sha256, 0, 0), card.image)
    kept = _kept_side(storage, loose, file)
    assert kept is not None and kept.image.shape == card.image.shape and kept.side == card.side
    assert float(np.abs(kept.image.astype(int) - card.image.astype(int)).mean()) < 2.0  # JPEG at quality 95
    assert kept.corners.tolist() == [[1.0, 1.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]  # the survey's half turn
    [path] = (tmp_path / "storage" / KEPT_SIDES).iterdir()
    assert path.stat().st_mode & 0o777 == 0o600
    path.write_bytes(path.read_bytes()[:5000])  # cut short, as by a crash while writing
    assert _kept_side(storage, loose, file) is None


def test_the_number_pairing_read_is_the_cards_reading_too(samples: Path, sample_cases: list[dict[str, Any]]) -> None:
    """A loose front's printed number, read by the survey to pair it, reaches the card's reading through the job's
    JSON and is taken as it is (not read again); a side that changed generation since is read afresh."""
    from intake.batch import CardMeta, Loose, read_side_numbers
    from intake.load import load_pages
    from intake.pipeline import pair_sides, read_sides, straighten

    case = next(c for c in sample_cases if c["document_type"] == "cmnd12" and len(c["files"]) == 2)
    truth = case["fields"]["id_number"]
    cards = [straighten(load_pages(samples / _sides(case)[side])[0])[0] for side in ("front", "back")]
    [number] = read_side_numbers(cards[0])
    assert (number.source, number.value) == ("print", truth) and number.reading is not None
    meta = CardMeta(0, 0, ((0.0, 0.0),) * 4, False, "front", "cmnd12", 1.0, ())
    file = ScanFile("x", "x.jpg", "0" * 64, 1)
    carried = Loose.from_json(json.loads(json.dumps(Loose(file, meta, 1, (number,)).to_json())))
    reading = carried.numbers[0].reading
    assert reading is not None and reading == number.reading
    # Marked, so that the card's reading shows whether it took it or read the print again.
    marked = FieldReading(truth[:-1] + str((int(truth[-1]) + 1) % 10), reading.confidence, "ocr", "front", reading.box)
    cards[0].printed, cards[0].printed_as = {"id_number": marked}, "cmnd12"
    [sides] = pair_sides(cards)
    assert read_sides(sides).value("id_number") == marked.value
    cards[0].printed_as = "cmnd9"
    assert read_sides(sides).value("id_number") == truth


# ---------------------------------------------------------------------------------------------------------
# With the real databases


def _mixed_folder(
    samples: Path, cases: list[dict[str, Any]], scans: Path, names: list[str]
) -> dict[str, tuple[str, str]]:
    """The cases' files under names that say nothing (the generator's own), a few in a subfolder."""
    placed = {}
    for n, name in enumerate(names):
        for entry in _case(cases, name)["files"]:
            target = f"{'sub/' if n % 3 == 2 else ''}{entry['file']}"
            _put(samples, entry["file"], scans / target)
            placed[target] = (name, entry["file"])
    return placed


def test_a_rerun_does_nothing_and_repairs_what_a_crash_left(
    database_url: str, samples: Path, sample_cases: list[dict[str, Any]], places: Any
) -> None:
    scans, out, storage = places["scans"], places["out"], places["storage"]
    placed = _mixed_folder(samples, sample_cases, scans, ["c006", "c011", "c001", "c002"])
    before = _tree(scans)
    first = run_batch(scans, out, database_url=database_url, storage=storage, workers=2)
    assert first.counts == {"ok": 4} and first.pairings == {"one file": 2, "number": 2}
    _check_card_by_card(out, placed, sample_cases)
    outputs = _outputs(out)

    engine = make_engine(database_url)
    with Session(engine) as session:
        drafts = session.exec(select(AccountRequest)).all()
        assert len(drafts) == 4 and {d.origin for d in drafts} == {"batch"} and {d.status for d in drafts} == {"draft"}
        assert {d.batch for d in drafts} == {"out"} == {b.name for b in session.exec(select(Batch)).all()}
        for draft in drafts:
            reading = json.loads(draft.reading or "{}")
            assert set(reading) == {"document_type", "card", "prefill", "side_files", "warnings"}
            assert draft.id_number == reading["card"]["fields"]["id_number"]["value"]
            attachment = session.get(StoredFile, draft.attachment_id)
            assert attachment is not None and (storage / attachment.path).exists()
        counts = (len(session.exec(select(BatchItem)).all()), len(session.exec(select(BatchSide)).all()))

    second = run_batch(scans, out, database_url=database_url, storage=storage, workers=2)
    assert second.counts == {} and second.already_done == 6 and second.repaired == 0
    assert _outputs(out) == outputs

    # What a crash at the worst moments leaves: a line torn in half, a line twice, a PDF never renamed into place.
    results = out / RESULTS
    lines = results.read_bytes().splitlines(keepends=True)
    results.write_bytes(b"".join(lines[:-1]) + lines[0] + lines[-1][:40])
    lost = next(name for name in outputs if name.endswith(".pdf"))
    (out / lost).unlink()
    (out / f".{lost}.x1y2.tmp").write_bytes(b"%PDF-1.4 half")
    third = run_batch(scans, out, database_url=database_url, storage=storage, workers=0)
    assert third.counts == {} and third.repaired == 4  # the torn line, the repeated one, the last line, the PDF
    assert _outputs(out) == outputs
    with Session(engine) as session:
        assert (len(session.exec(select(BatchItem)).all()), len(session.exec(select(BatchSide)).all())) == counts
    engine.dispose()
    assert _tree(scans) == before


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _motcua_batch(
    scans: Path, out: Path, database_url: str, tmp: Path, *options: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`motcua batch` in a process of its own, its storage and instance folders under `tmp`; `--workers 2 --quiet`
    unless `options` are given."""
    env = {
        **os.environ,
        "MOTCUA_STORAGE": str(tmp / "storage"),
        "MOTCUA_INSTANCE": str(tmp / "instance"),
        **(env or {}),
    }
    command = [str(MOTCUA), "batch", str(scans), "--out", str(out), "--database-url", database_url]
    command += options or ("--workers", "2", "--quiet")
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_batch_killed_with_kill_9_and_run_again_records_every_card_once(
    database_url: str, samples: Path, sample_cases: list[dict[str, Any]], places: Any, tmp_path: Path
) -> None:
    scans, out = places["scans"], places["out"]
    names = ["c007", "c010", "c012", "c013", "c015", "c016", "c019", "c030"]
    placed = _mixed_folder(samples, sample_cases, scans, names)
    before = _tree(scans)

    batch = _motcua_batch(scans, out, database_url, tmp_path)
    deadline = time.monotonic() + 120
    results = out / RESULTS
    while not (results.exists() and results.read_bytes().count(b"\n") >= 1):
        assert batch.poll() is None, batch.communicate()
        assert time.monotonic() < deadline, "no card came out in 120 s"
        time.sleep(0.05)
    workers = _workers_of(batch.pid)
    assert workers
    os.kill(batch.pid, signal.SIGKILL)
    batch.wait()
    done_at_kill = results.read_bytes().count(b"\n")
    assert done_at_kill < len(names), "the batch finished before it could be killed: nothing was tested"
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers):  # workers die with the batch, they do not finish behind its back
        assert time.monotonic() < deadline, f"workers {workers} outlived the batch"
        time.sleep(0.05)

    again = _motcua_batch(scans, out, database_url, tmp_path)
    _, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr.decode()
    _check_card_by_card(out, placed, sample_cases)
    engine = make_engine(database_url)
    with Session(engine) as session:
        items = session.exec(select(BatchItem)).all()
        drafts = session.exec(select(AccountRequest)).all()
        sides = session.exec(select(BatchSide)).all()
    engine.dispose()
    assert len(items) == len(drafts) == len(names)
    assert {item.key for item in items} == {line["item"] for line in _lines(out)}
    assert len(sides) == 2 * len(names)
    assert _tree(scans) == before


def _png_declaring(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + (width + 7) // 8) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def test_bad_files_are_reported_and_the_rest_processed(
    database_url: str, samples: Path, sample_cases: list[dict[str, Any]], places: Any
) -> None:
    import cv2
    import numpy as np

    scans, out, storage = places["scans"], places["out"], places["storage"]
    good = _case(sample_cases, "c007")["files"][0]["file"]
    _put(samples, good, scans / "good.jpg")
    _put(samples, good, scans / "later/good again.jpg")
    (scans / "empty.jpg").write_bytes(b"")
    (scans / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + b"not a pdf body " * 50)
    (scans / "cut.jpg").write_bytes((samples / good).read_bytes()[:20000])
    with (scans / "huge.tif").open("wb") as f:  # 60 MB (sparse): over the 50 MB limit
        f.write(b"II*\x00")
        f.truncate(60 * 1024 * 1024)
    (scans / "bomb.png").write_bytes(_png_declaring(30000, 30000))
    (scans / "notes.txt").write_text("Danh sách hồ sơ tháng 6\n", encoding="utf-8")
    sky = np.full((1200, 1600, 3), (235, 206, 135), np.uint8)  # a photo of the sky: an image, no card
    (scans / "sky.jpg").write_bytes(cv2.imencode(".jpg", sky)[1].tobytes())
    before = _tree(scans)

    summary = run_batch(scans, out, database_url=database_url, storage=storage, workers=0)
    assert summary.counts == {"ok": 1, "failed": 5}
    report = _report(out)
    expected = {
        "later/good again.jpg": ("Bỏ qua", "Trùng nội dung với tệp good.jpg"),
        "empty.jpg": ("Lỗi", "Tệp empty.jpg rỗng"),
        "corrupt.pdf": ("Lỗi", "Tệp corrupt.pdf bị hỏng"),
        "cut.jpg": ("Lỗi", "Tệp cut.jpg bị thiếu dữ liệu"),
        "huge.tif": ("Lỗi", "Tệp huge.tif quá lớn"),
        "bomb.png": ("Lỗi", "Ảnh bomb.png quá lớn"),
        "notes.txt": ("Bỏ qua", "Tệp notes.txt không phải ảnh quét"),
        "sky.jpg": ("Lỗi", "Không tìm thấy thẻ CMND/CCCD trong sky.jpg"),
    }
    assert set(report) == set(expected)
    for name, (status, reason) in expected.items():
        assert report[name][1] == status and report[name][2].startswith(reason), report[name]
    lines = {line["files"][0]["path"]: line for line in _lines(out)}
    assert set(lines) == {"good.jpg", "corrupt.pdf", "cut.jpg", "huge.tif", "bomb.png", "sky.jpg"}
    assert lines["good.jpg"]["status"] == "ok" and lines["good.jpg"]["document_type"] == "cancuoc2024"
    assert lines["huge.tif"]["status"] == "failed" and lines["huge.tif"]["reason"] == report["huge.tif"][2]
    assert _tree(scans) == before


# ---------------------------------------------------------------------------------------------------------
# A job that never ends


def test_a_job_that_hangs_is_stopped_at_its_time_limit_and_done_by_the_next_run(
    database_url: str, samples: Path, sample_cases: list[dict[str, Any]], places: Any, tmp_path: Path
) -> None:
    """One file's job never ends (the workers' test hook, MOTCUA_JOB_HANG). One worker, a 3 s limit: the hung job's
    worker is killed and replaced, so the cards after it are done; report.csv says why the file is missing; a run
    without the hook then does that card, once, and nothing else."""
    scans, out = places["scans"], places["out"]
    placed = _mixed_folder(samples, sample_cases, scans, ["c006", "c007", "c011", "c008"])
    hung = next(name for name, (case, _) in placed.items() if case == "c006")  # the second file in the listing
    hung_sha = hashlib.sha256((scans / hung).read_bytes()).hexdigest()

    started = time.monotonic()
    first = _motcua_batch(scans, out, database_url, tmp_path, "--workers", "1", "--job-timeout", "3", env={HANG: hung})
    stdout, stderr = first.communicate(timeout=180)
    assert first.returncode == 0, stderr.decode()
    assert time.monotonic() - started < 120, "the batch waited for the hung job"
    summary = stdout.decode()
    assert "3 thẻ (3 đủ hai mặt" in summary and "1 sẽ thử lại" in summary, summary + stderr.decode()
    assert f"{hung}: over the time limit of 3 s: its worker process was killed" in stderr.decode()
    # The one worker hung on the second file: the third and fourth were done by the worker that replaced it.
    done = {placed[entry["path"]][0] for line in _lines(out) for entry in line["files"]}
    assert done == {"c007", "c011", "c008"}
    assert all(line["status"] == "ok" for line in _lines(out))
    report = _report(out)
    assert set(report) == {hung}
    reason = TIMED_OUT.format(source=hung, seconds="3")
    assert report[hung][1:] == ["Lỗi, sẽ thử lại", reason, "", ""], report[hung]
    assert "kéo dài quá 3 giây" in reason
    engine = make_engine(database_url)
    with Session(engine) as session:  # not recorded: the next run tries it
        assert not session.exec(select(BatchSide).where(BatchSide.sha256 == hung_sha)).all()
        assert len(session.exec(select(BatchItem)).all()) == 3

    again = run_batch(scans, out, database_url=database_url, storage=places["storage"], workers=1)
    assert again.counts == {"ok": 1} and again.already_done == 3 and not again.retry
    _check_card_by_card(out, placed, sample_cases)
    assert _report(out) == {}
    with Session(engine) as session:
        assert len(session.exec(select(BatchItem)).all()) == len(session.exec(select(AccountRequest)).all()) == 4
        assert len(session.exec(select(BatchSide).where(BatchSide.sha256 == hung_sha)).all()) == 2
    engine.dispose()


# ---------------------------------------------------------------------------------------------------------
# The pool: a worker that dies takes only its own job


def _dies_on_bad(job: Any, context: BatchContext) -> JobResult:
    """Stand-in for process_job: kills its own worker on the file named "bad", as a crash in a library would."""
    name = job.file.name
    if name == "bad":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return JobResult(items=[ItemOutcome(name, "ok", [name], "one file")], pid=os.getpid())


def test_a_worker_that_dies_fails_its_own_job_only() -> None:
    context = BatchContext(0, "t", "/nonexistent", "/nonexistent", "sqlite://")
    names = ["a", "b", "bad", "c", "d", "e", "f"]
    jobs = [SurveyJob(ScanFile(f"/x/{n}", n, hashlib.sha256(n.encode()).hexdigest(), 1)) for n in names]
    delivered: dict[str, list[ItemOutcome]] = {}

    def deliver(job: Any, result: JobResult) -> None:
        delivered.setdefault(job.file.name, []).extend(result.items)

    runner = Runner(context, 2, function=_dies_on_bad)
    try:
        runner.run(jobs, deliver)
    finally:
        runner.close()
    assert set(delivered) == set(names) and all(len(items) == 1 for items in delivered.values())
    assert all(delivered[n][0].status == "ok" for n in names if n != "bad")
    crashed = delivered["bad"][0]
    assert not crashed.final and crashed.reason == CRASHED.format(source="bad")


def _hangs_on_hang(job: Any, context: BatchContext) -> JobResult:
    """Stand-in for process_job: on the file named "hang", leaves its process id at the file's path and never ends."""
    name = job.file.name
    if name == "hang":
        Path(job.file.path).write_text(str(os.getpid()))
        time.sleep(3600)
    return JobResult(items=[ItemOutcome(name, "ok", [name], "one file")], pid=os.getpid())


def test_a_job_over_its_time_limit_has_its_worker_killed_and_replaced(tmp_path: Path) -> None:
    context = BatchContext(0, "t", "/nonexistent", "/nonexistent", "sqlite://")
    names = ["a", "hang", "b", "c"]
    jobs = [SurveyJob(ScanFile(str(tmp_path / n), n, hashlib.sha256(n.encode()).hexdigest(), 1)) for n in names]
    delivered: dict[str, list[ItemOutcome]] = {}
    pids: dict[str, int] = {}

    def deliver(job: Any, result: JobResult) -> None:
        delivered.setdefault(job.file.name, []).extend(result.items)
        pids[job.file.name] = result.pid

    runner = Runner(context, 1, function=_hangs_on_hang, job_timeout=2)
    started = time.monotonic()
    try:
        runner.run(jobs, deliver)
    finally:
        runner.close()
    assert time.monotonic() - started < 60
    assert set(delivered) == set(names) and all(len(items) == 1 for items in delivered.values())
    stopped = delivered["hang"][0]
    assert (
        not stopped.final
        and stopped.status == "failed"
        and stopped.reason == TIMED_OUT.format(source="hang", seconds="2")
    )
    hung = int((tmp_path / "hang").read_text())
    assert hung == pids["a"] and not _alive(hung), "the hung job's worker was not killed"
    # The one worker was killed: a new one did the rest.
    assert pids["b"] == pids["c"] and pids["b"] not in (hung, 0)
    assert all(delivered[n][0].status == "ok" for n in ("a", "b", "c"))


def _workers_of(pid: int) -> list[int]:
    """Pool workers among a process's children (multiprocessing's resource tracker lives as long as its parent)."""
    found = []
    for child in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes() and _alive(child):
                found.append(child)
        except FileNotFoundError:
            continue
    return found


@pytest.fixture(autouse=True)
def _no_stray_workers() -> Iterator[None]:
    yield
    assert not _workers_of(os.getpid()), "a worker process outlived its test"
