"""`motcua batch --broker`: two real `motcua worker`s on Redis and PostgreSQL give what the local mode gives, and a
worker killed mid-task has its task redone, once."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pymupdf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select

from forms.db import make_engine
from forms.models import AccountRequest, BatchItem, BatchSide
from intake.batch import (
    HANG,
    JOB_TIMEOUT,
    RESULTS,
    BatchContext,
    BatchSummary,
    CardMeta,
    CardsJob,
    GroupJob,
    ItemOutcome,
    JobResult,
    Loose,
    ScanFile,
    SurveyJob,
    job_from_json,
    job_to_json,
    run_batch,
)
from intake.batch_pairing import SideNumber
from intake.messages import TIMED_OUT
from intake.tasks import HOLD, QUEUE, STAGING, TASK, CeleryRunner, WorkerSettings, make_app

MOTCUA = Path(sys.executable).parent / "motcua"


# ---------------------------------------------------------------------------------------------------------
# The JSON forms that cross the queue


_text = st.text(min_size=1, max_size=12)
_files = st.builds(
    ScanFile,
    path=_text,
    name=_text,
    sha256=st.text("0123456789abcdef", min_size=64, max_size=64),
    size=st.integers(0, 10**9),
    order=st.integers(0, 10**6),
    stored=st.none() | _text,
)
_metas = st.builds(
    CardMeta,
    page=st.integers(0, 99),
    card=st.integers(0, 3),
    corners=st.tuples(*[st.tuples(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4))] * 4),
    turned=st.booleans(),
    side=st.sampled_from(["front", "back", "unknown"]),
    document_type=_text,
    orientation_confidence=st.floats(0, 1),
    evidence=st.lists(_text, max_size=3).map(tuple),
)
_numbers = st.builds(SideNumber, value=st.text("0123456789", min_size=9, max_size=12), source=_text, sure=st.booleans())
_loose = st.builds(
    Loose, file=_files, meta=_metas, file_sides=st.integers(1, 4), numbers=st.lists(_numbers, max_size=2).map(tuple)
)
_jobs = st.one_of(
    st.builds(GroupJob, files=st.lists(_files, min_size=2, max_size=2).map(tuple), pairing=_text),
    st.builds(SurveyJob, file=_files, done=st.frozensets(_text, max_size=3)),
    st.builds(CardsJob, sides=st.lists(_loose, min_size=1, max_size=2).map(tuple), pairing=_text),
)
_outcomes = st.builds(
    ItemOutcome,
    key=_text,
    status=st.sampled_from(["ok", "partial", "failed"]),
    files=st.lists(_text, max_size=2),
    pairing=_text,
    final=st.booleans(),
    created=st.booleans(),
    line=st.none() | _text,
    pdf_name=st.none() | _text,
    reason=st.none() | _text,
    attachment=st.none() | _text,
    pdf_written=st.booleans(),
)


@given(job=_jobs, items=st.lists(_outcomes, max_size=3), loose=st.lists(_loose, max_size=2))
def test_jobs_and_results_go_through_json_unchanged(job: Any, items: list[ItemOutcome], loose: list[Loose]) -> None:
    assert job_from_json(json.loads(json.dumps(job_to_json(job)))) == job
    result = JobResult(items=items, loose=loose, pid=12, peak_rss_kb=3456)
    assert JobResult.from_json(json.loads(json.dumps(result.to_json()))) == result
    context = BatchContext(3, "lô 3", "/out", "/storage", "postgresql://x/y", 2, write_pdfs=False)
    assert BatchContext.from_json(json.loads(json.dumps(context.to_json()))) == context


# ---------------------------------------------------------------------------------------------------------
# Real workers


@pytest.fixture
def pg_url(empty_postgres_url: str) -> str:
    """PostgreSQL, emptied: workers of several processes share it, which is what the Celery mode is for."""
    return empty_postgres_url


@pytest.fixture
def places(tmp_path: Path) -> dict[str, Path]:
    folders = {name: tmp_path / name for name in ("scans", "storage", "hold")}
    for folder in folders.values():
        folder.mkdir()
    return folders


Start = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def workers(redis_url: str, pg_url: str, places: dict[str, Path], tmp_path: Path) -> Iterator[Start]:
    """Starts `motcua worker`s (one process each, each in a process group of its own); all killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *options: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "MOTCUA_BROKER_URL": redis_url,
            "MOTCUA_DATABASE_URL": pg_url,
            "MOTCUA_STORAGE": str(places["storage"]),
            "MOTCUA_INSTANCE": str(tmp_path / f"instance-{name}"),
            HOLD: str(places["hold"]),
            **(env or {}),
        }
        command = [str(MOTCUA), "worker", "--concurrency", "1", "--name", f"{name}@%h", *options]
        with (tmp_path / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _wait_for_workers(redis_url: str, names: set[str], seconds: float = 60) -> None:
    app = make_app(redis_url)
    deadline = time.monotonic() + seconds
    try:
        while True:
            answered = {name.split("@")[0] for reply in app.control.ping(timeout=0.5) for name in reply}
            if names <= answered:
                return
            assert time.monotonic() < deadline, f"workers {names - answered} not up in {seconds} s"
    finally:
        app.close()


def _folder(samples: Path, cases: list[dict[str, Any]], scans: Path, names: list[str]) -> dict[str, str]:
    """The cases' files under the generator's names (which say nothing), the first case's as `_front/_back`."""
    owner = {}
    for n, name in enumerate(names):
        case = next(case for case in cases if case["case"] == name)
        for k, entry in enumerate(case["files"]):
            target = entry["file"] if n else f"hs{n}_{('front', 'back')[k]}{Path(entry['file']).suffix}"
            shutil.copyfile(samples / entry["file"], scans / target)
            owner[target] = name
    return owner


def _lines(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS).read_text(encoding="utf-8").splitlines()]


def _by_files(out: Path) -> dict[frozenset[str], tuple[Any, ...]]:
    """Each results line by its files, with what must not depend on where it ran; no file in two lines."""
    lines = _lines(out)
    found = {
        frozenset(entry["path"] for entry in line["files"]): (
            line["item"],
            line["status"],
            line["id_number"],
            line["document_type"],
            line["pairing"],
            line["pdf"],
            line["reason"],
        )
        for line in lines
    }
    assert len(found) == len(lines), "a card twice in results.jsonl"
    return found


def _check_database(url: str, out: Path, cards: int) -> None:
    """One item per results line (the same keys), one draft per card, every side recorded once."""
    lines = _lines(out)
    engine = make_engine(url)
    with Session(engine) as session:
        items = session.exec(select(BatchItem)).all()
        drafts = session.exec(select(AccountRequest)).all()
        sides = session.exec(select(BatchSide)).all()
    engine.dispose()
    assert sorted(item.key for item in items) == sorted(line["item"] for line in lines)
    assert len(drafts) == cards
    assert len(sides) == sum(len(entry.get("sides", [None])) for line in lines for entry in line["files"])


def _check_citizens(out: Path, owner: dict[str, str], cases: list[dict[str, Any]]) -> None:
    """Each citizen exactly once, whole, with the number printed on the card; every PDF opens."""
    numbers = {case["case"]: case["fields"]["id_number"] for case in cases}
    seen: list[str] = []
    for line in _lines(out):
        if not all(entry["path"] in owner for entry in line["files"]):
            continue  # a bad file of the folder
        owners = {owner[entry["path"]] for entry in line["files"]}
        assert len(owners) == 1, line["files"]
        seen += owners
        assert line["status"] == "ok" and line["id_number"] == numbers[seen[-1]], line
        with pymupdf.open(out / line["pdf"]) as pdf:
            assert pdf.page_count == 1
    assert sorted(seen) == sorted(set(owner.values()))


def test_two_workers_give_what_the_local_mode_gives(
    redis_url: str,
    pg_url: str,
    workers: Start,
    samples: Path,
    sample_cases: list[dict[str, Any]],
    places: dict[str, Path],
    tmp_path: Path,
) -> None:
    first, second = workers("w1"), workers("w2")  # their start overlaps the local run
    scans = places["scans"]
    owner = _folder(samples, sample_cases, scans, ["c022", "c006", "c011", "c001", "c002", "c024"])
    (scans / "empty.jpg").write_bytes(b"")
    (scans / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + b"not a pdf body " * 50)
    local_out, queued_out = tmp_path / "local", tmp_path / "queued"
    local = run_batch(scans, local_out, database_url=f"sqlite:///{tmp_path / 'local.db'}",
                      storage=tmp_path / "local-storage", workers=0)  # fmt: skip
    assert local.counts == {"ok": 6, "failed": 1}

    _wait_for_workers(redis_url, {"w1", "w2"})
    env = {**os.environ, "MOTCUA_STORAGE": str(places["storage"]), "MOTCUA_INSTANCE": str(tmp_path / "instance")}
    env.pop("MOTCUA_BROKER_URL", None)
    command = [str(MOTCUA), "batch", str(scans), "--out", str(queued_out), "--database-url", pg_url]
    done = subprocess.run([*command, "--broker", redis_url], env=env, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()
    assert "6 đủ hai mặt" in done.stdout.decode() and "1 tệp lỗi" in done.stdout.decode(), done.stdout.decode()

    # The same cards, the same numbers, statuses and pairings, the same item keys and PDF names; the same report.
    assert _by_files(queued_out) == _by_files(local_out)
    _check_citizens(queued_out, owner, sample_cases)
    assert (queued_out / "report.csv").read_bytes() == (local_out / "report.csv").read_bytes()
    with (queued_out / "report.csv").open(encoding="utf-8-sig", newline="") as f:
        assert {row[0] for row in csv.reader(f)} == {"Tệp", "empty.jpg", "corrupt.pdf"}
    pdfs = sorted(path.name for path in queued_out.glob("*.pdf"))
    assert pdfs == sorted(path.name for path in local_out.glob("*.pdf")) and len(pdfs) == 6
    _check_database(pg_url, queued_out, cards=6)
    assert not (places["storage"] / STAGING).exists(), "the scans' copies for the workers were left behind"
    for name in ("w1", "w2"):  # both took jobs
        assert "succeeded" in (tmp_path / f"{name}.log").read_text(), f"{name} ran nothing"

    # A rerun finds everything done and changes nothing.
    outputs = {path.name: path.read_bytes() for path in queued_out.iterdir() if path.is_file()}
    again = subprocess.run([*command, "--broker", redis_url, "--quiet"], env=env, capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr.decode()
    assert {path.name: path.read_bytes() for path in queued_out.iterdir() if path.is_file()} == outputs
    assert first.poll() is None and second.poll() is None


def _markers(hold: Path) -> dict[str, dict[str, set[int]]]:
    """task → point → the attempts that reached it (from the files the workers' hook leaves)."""
    found: dict[str, dict[str, set[int]]] = {}
    for path in hold.iterdir():
        if path.name.startswith("hold-"):
            continue
        task, attempt, point = path.name.split(".")
        found.setdefault(task, {}).setdefault(point, set()).add(int(attempt))
    return found


def _held(hold: Path, point: str, batch: threading.Thread, seconds: float = 120) -> int:
    """The process id of the task stopped at `point`, once it is there."""
    deadline = time.monotonic() + seconds
    while True:
        found = list(hold.glob(f"*.held-{point}"))
        if found:
            time.sleep(0.05)  # the hook writes the file, then its content
            return int(found[0].read_text())
        assert batch.is_alive(), f"the batch ended and no task stopped at {point}"
        assert time.monotonic() < deadline, f"no task stopped at {point} in {seconds} s"
        time.sleep(0.02)


def test_a_worker_killed_mid_task_has_its_task_redone_once(
    redis_url: str,
    pg_url: str,
    workers: Start,
    samples: Path,
    sample_cases: list[dict[str, Any]],
    places: dict[str, Path],
    tmp_path: Path,
) -> None:
    """Two workers; one task stops before its job, another after recording its card. The first's whole worker
    is killed (a machine lost: the broker gives the task to the other after --redeliver-after); the second's
    process only (the worker gives the task back at once). Each of the two runs once more, every other task once;
    every citizen comes out once."""
    scans, hold, out = places["scans"], places["hold"], tmp_path / "out"
    owner = _folder(samples, sample_cases, scans, ["c007", "c010", "c012", "c013", "c019", "c030"])
    (hold / "hold-start").touch()
    (hold / "hold-recorded").touch()
    started = [workers(name, "--redeliver-after", "8") for name in ("w1", "w2")]
    _wait_for_workers(redis_url, {"w1", "w2"})

    results: list[BatchSummary | BaseException] = []

    def batch() -> None:
        try:
            summary = run_batch(scans, out, database_url=pg_url, storage=places["storage"],
                                runner=lambda context: CeleryRunner(context, redis_url))  # fmt: skip
        except BaseException as error:  # raised again in the test's thread
            results.append(error)
        else:
            results.append(summary)

    thread = threading.Thread(target=batch, daemon=True)
    thread.start()
    stopped_before = _held(hold, "start", thread)
    lost = os.getpgid(stopped_before)  # the worker whose task it is, with all its processes
    assert lost in {process.pid for process in started}
    os.killpg(lost, signal.SIGKILL)
    stopped_after = _held(hold, "recorded", thread)
    assert os.getpgid(stopped_after) != lost
    os.kill(stopped_after, signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive(), "the batch did not end"

    summary = results[0]
    if isinstance(summary, BaseException):
        raise summary
    assert summary.counts == {"ok": 6}, summary  # the card recorded before the kill was reported by its redo
    _check_citizens(out, owner, sample_cases)
    _check_database(pg_url, out, cards=6)
    markers = _markers(hold)
    before, after = (next(hold.glob(f"*.held-{point}")).name.split(".")[0] for point in ("start", "recorded"))
    assert before != after
    assert markers[before]["start"] == {1, 2} and markers[before].get("recorded", {2}) == {2}, markers[before]
    assert markers[after]["start"] == markers[after]["recorded"] == {1, 2}, markers[after]
    for task, points in markers.items():
        if task not in (before, after):
            assert points["start"] == {1} and points.get("recorded", {1}) == {1}, (task, points)
    assert [process.poll() for process in started].count(None) == 1  # the other worker lives on


# ---------------------------------------------------------------------------------------------------------
# The time limit


def test_every_task_carries_the_batchs_time_limit(redis_url: str, tmp_path: Path) -> None:
    """The limit travels in each message (Celery's `timelimit` header), so the batch's --job-timeout rules whichever
    worker takes it; a worker's own default covers a message without one."""
    from celery.signals import before_task_publish

    worker_app = make_app(redis_url, worker=WorkerSettings("sqlite://", str(tmp_path)))
    task = worker_app.tasks[TASK]
    assert task.time_limit == JOB_TIMEOUT and task.soft_time_limit is None
    worker_app.close()

    scan = tmp_path / "scan.jpg"
    scan.write_bytes(b"\xff\xd8 not really a scan")
    file = ScanFile(str(scan), "scan.jpg", "ab" * 32, scan.stat().st_size)
    context = BatchContext(1, "lô", str(tmp_path / "out"), str(tmp_path / "storage"), "sqlite://")
    sent: list[dict[str, Any]] = []

    def seen(sender: str, headers: dict[str, Any], routing_key: str, **_: Any) -> None:
        sent.append({"task": sender, "timelimit": headers["timelimit"], "queue": routing_key})

    # The message as it goes to Redis (read there, it could already be a worker's: the machine's Redis is shared).
    before_task_publish.connect(seen, weak=False)
    runner = CeleryRunner(context, redis_url, job_timeout=7.5)
    try:
        runner._send(SurveyJob(file))
    finally:
        before_task_publish.disconnect(seen)
        runner.close(cancel=True)
    assert sent == [{"task": TASK, "timelimit": [7.5, None], "queue": QUEUE}]


def test_a_task_over_its_time_limit_is_reported_and_its_worker_goes_on(
    redis_url: str,
    pg_url: str,
    workers: Start,
    samples: Path,
    sample_cases: list[dict[str, Any]],
    places: dict[str, Path],
    tmp_path: Path,
) -> None:
    """A worker whose job on one file never ends (the workers' test hook, MOTCUA_JOB_HANG): with --job-timeout 3
    its pool kills the process and starts another, the batch reports the file for the next run, the other cards
    are done by the same worker, and the task is not given out again."""
    scans, hold, out = places["scans"], places["hold"], tmp_path / "out"
    owner = _folder(samples, sample_cases, scans, ["c007", "c006", "c008"])
    hung = next(name for name, case in owner.items() if case == "c006")
    worker = workers("w1", env={HANG: hung})
    _wait_for_workers(redis_url, {"w1"})

    env = {**os.environ, "MOTCUA_STORAGE": str(places["storage"]), "MOTCUA_INSTANCE": str(tmp_path / "instance")}
    env.pop("MOTCUA_BROKER_URL", None)
    command = [str(MOTCUA), "batch", str(scans), "--out", str(out), "--database-url", pg_url, "--broker", redis_url]
    done = subprocess.run([*command, "--job-timeout", "3"], env=env, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()
    assert "2 thẻ (2 đủ hai mặt" in done.stdout.decode() and "1 sẽ thử lại" in done.stdout.decode(), done.stdout
    with (out / "report.csv").open(encoding="utf-8-sig", newline="") as f:
        rows = {row[0]: row for row in csv.reader(f)}
    assert set(rows) == {"Tệp", hung}
    assert rows[hung][1:3] == ["Lỗi, sẽ thử lại", TIMED_OUT.format(source=hung, seconds="3")]
    assert sorted(owner[entry["path"]] for line in _lines(out) for entry in line["files"]) == ["c007", "c008"]
    _check_database(pg_url, out, cards=2)
    assert worker.poll() is None, "the worker itself went down with its task"
    log = (tmp_path / "w1.log").read_text()
    assert "Hard time limit (3" in log, log[-3000:]
    markers = _markers(hold)  # each task started once: the one over its limit was not given out again
    assert sorted(points["start"] == {1} for points in markers.values()) == [True] * 3, markers
