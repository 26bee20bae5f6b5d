"""Batch benchmark: cards per second with 1 and 2 local workers, and with `motcua worker`s through a broker
(`--broker redis://...`), on a generated folder; peak memory per worker."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# Run as a script, this file's folder comes first on the path and its name would hide the `intake` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from intake.batch import RESULTS, BatchSummary, run_batch  # noqa: E402
from intake.synth import generate_samples  # noqa: E402

MOTCUA = Path(sys.executable).parent / "motcua"


def pairing_quality(folder: Path, out: Path) -> Counter[str]:
    """Cards of the results against the truth: paired right, one side only, or mixing two citizens."""
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    owner = {entry["file"]: case["case"] for case in truth["cases"] for entry in case["files"]}
    quality: Counter[str] = Counter()
    for line in (out / RESULTS).read_text(encoding="utf-8").splitlines():
        result = json.loads(line)
        cases = {owner[entry["path"]] for entry in result["files"]}
        sides = sum(len(entry.get("sides", [])) for entry in result["files"])
        if len(cases) > 1:
            quality["mixed"] += 1
        elif result["status"] == "failed":
            quality["failed"] += 1
        elif sides == 2:  # a generated case is one card: its two sides
            quality["right"] += 1
        else:
            quality["one side"] += 1
    return quality


def cpu_seconds() -> float:
    """CPU time of this process and of its waited-for children (the pool's workers, once the pool is shut)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(folder: Path, workers: int, keep: Path | None) -> tuple[BatchSummary, Counter[str], float, str]:
    work = Path(tempfile.mkdtemp(prefix=f"motcua-bench-batch-{workers}w-"))
    out = (keep / f"out-{workers}w") if keep else work / "out"
    if out.exists():
        shutil.rmtree(out)
    load_before = os.getloadavg()[0]
    cpu = cpu_seconds()
    try:
        summary = run_batch(
            folder, out, database_url=f"sqlite:///{work / 'db.sqlite'}", storage=work / "storage", workers=workers
        )
        cpu = cpu_seconds() - cpu
        load = f"{load_before:.1f} → {os.getloadavg()[0]:.1f}"
        return summary, pairing_quality(folder, out), cpu, load
    finally:
        shutil.rmtree(work, ignore_errors=True)


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU time of running processes and their children (a Celery worker and its pool), from /proc: they are not
    this process's waited-for children, and their start (imports, models) is not the batch's."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    seen: set[int] = set()
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack += [int(child) for child in (task / "children").read_text().split()]
    return total


def run_celery(
    folder: Path, broker: str, postgres: str, workers: int, keep: Path | None
) -> tuple[BatchSummary, Counter[str], float, str]:
    """The same folder through `workers` `motcua worker`s (one process each) on `broker`, with a throwaway
    PostgreSQL database made beside `postgres` (an administrator's URL)."""
    from sqlalchemy import create_engine, text

    from forms.db import make_engine, upgrade
    from intake.tasks import CeleryRunner, make_app

    work = Path(tempfile.mkdtemp(prefix="motcua-bench-batch-celery-"))
    out = (keep / "out-celery") if keep else work / "out"
    if out.exists():
        shutil.rmtree(out)
    name = f"motcua_bench_{os.getpid()}"
    admin = create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = postgres.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    env = {**os.environ, "MOTCUA_BROKER_URL": broker, "MOTCUA_DATABASE_URL": url,
           "MOTCUA_STORAGE": str(work / "storage"), "MOTCUA_INSTANCE": str(work / "instance")}  # fmt: skip
    started = []
    app = make_app(broker)
    try:
        for n in range(workers):
            command = [str(MOTCUA), "worker", "--concurrency", "1", "--name", f"bench{n}@%h", "--loglevel", "WARNING"]
            log = (work / f"worker{n}.log").open("wb")
            started.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True))  # fmt: skip
        deadline = time.monotonic() + 120
        while sum(len(reply) for reply in app.control.ping(timeout=0.5)) < workers:
            if time.monotonic() > deadline:
                logs = Path(tempfile.mkdtemp(prefix="motcua-bench-worker-logs-"))
                for log_file in work.glob("worker*.log"):  # the work folder goes below: the logs are kept
                    shutil.copy(log_file, logs)
                raise SystemExit(f"the workers did not answer in 120 s; see {logs}/worker*.log")
        time.sleep(3)  # a worker answers before its pool processes have loaded their models: not the batch's time
        load_before = os.getloadavg()[0]
        cpu = cpu_seconds() + tree_cpu_seconds([p.pid for p in started])
        summary = run_batch(folder, out, database_url=url, storage=work / "storage", workers=workers,
                            runner=lambda context: CeleryRunner(context, broker))  # fmt: skip
        cpu = cpu_seconds() + tree_cpu_seconds([p.pid for p in started]) - cpu
        load = f"{load_before:.1f} → {os.getloadavg()[0]:.1f}"
        return summary, pairing_quality(folder, out), cpu, load
    finally:
        app.close()
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="cards (citizens) to generate")
    parser.add_argument("--seed", type=int, default=7007)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--folder", type=Path, default=None, help="reuse or keep the generated set here")
    parser.add_argument("--keep", type=Path, default=None, help="keep each run's output folder here")
    parser.add_argument("--broker", default=None, help="also through Celery: a Redis URL with no other use meanwhile")
    parser.add_argument("--celery-workers", type=int, default=2, help="`motcua worker`s (one process each)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("MOTCUA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
        help="PostgreSQL administrator's URL, for the Celery run's throwaway database",
    )
    args = parser.parse_args()

    folder = args.folder or Path(tempfile.gettempdir()) / f"motcua-bench-batch-{args.seed}-{args.count}"
    if not (folder / "truth.json").exists():
        started = time.perf_counter()
        generate_samples(folder, args.count, args.seed)
        print(f"generated {args.count} cards in {time.perf_counter() - started:.0f} s into {folder}")
    citizens = len(json.loads((folder / "truth.json").read_text(encoding="utf-8"))["cases"])
    files = [path for path in folder.iterdir() if path.is_file() and path.name != "truth.json"]
    size = sum(path.stat().st_size for path in files)
    print(f"{args.count} cards (seed {args.seed}), {len(files)} scan files, {size / 1e6:.0f} MB; {os.cpu_count()} CPUs")
    print("names say nothing (the generator's scanner and phone names): sides pair in their file, by number or order\n")

    rows: list[dict[str, Any]] = []
    modes: list[tuple[str, int]] = [("local", int(w)) for w in args.workers.split(",")]
    if args.broker:
        modes.append(("celery", args.celery_workers))
    for mode, workers in modes:
        if mode == "celery":
            summary, quality, cpu, load = run_celery(folder, args.broker, args.postgres, workers, args.keep)
        else:
            summary, quality, cpu, load = run(folder, workers, args.keep)
        peak_mb = max(summary.peak_rss_kb.values(), default=0) / 1024
        rows.append(
            {
                "workers": workers if mode == "local" else f"celery {workers}",
                "seconds": summary.seconds,
                "cards": summary.cards,
                "rate": summary.cards / summary.seconds,
                "peak_mb": peak_mb,
                "quality": quality,
                "pairings": summary.pairings,
                "retry": summary.counts["retry"],
                "cpu_per_card": cpu / summary.cards,
                "cpu_per_citizen": cpu / citizens,
                "citizens_per_s": citizens / summary.seconds,
                "load": load,
            }
        )
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Two counts: the batch's items (a two-sided card, or a side left alone), and the citizens whose two sides the
    # folder holds, which is what the aim counts (two-sided cards per second per core).
    print(
        f"{'workers':>9} {'wall s':>8} {'items':>6} {'items/s':>8} {'CPU s/item':>10} {'citizens/s':>10} "
        f"{'CPU s/citizen':>13} {'citizens/CPU-s':>14} {'peak MB/worker':>15}  load average (1 min) before → after"
    )
    for r in rows:
        print(
            f"{r['workers']:>9} {r['seconds']:>8.1f} {r['cards']:>6} {r['rate']:>8.2f} {r['cpu_per_card']:>10.3f} "
            f"{r['citizens_per_s']:>10.2f} {r['cpu_per_citizen']:>13.3f} {1 / r['cpu_per_citizen']:>14.2f} "
            f"{r['peak_mb']:>15.0f}  {r['load']}"
        )
    print(f"\nparent process peak: {parent_mb:.0f} MB (the folder's inventory, the pairing, the results file)")
    for r in rows:
        quality, pairings = r["quality"], r["pairings"]
        print(
            f"{r['workers']} worker(s): items paired right {quality['right']}, one side only {quality['one side']}, "
            f"mixing two citizens {quality['mixed']}, failed {quality['failed']}, retry {r['retry']}; "
            "pairing: " + ", ".join(f"{k} {v}" for k, v in pairings.most_common())
        )
    print("\nlocal: wall time includes starting the pool (a fresh interpreter per worker, its models loaded once)")
    if args.broker:
        print("celery: the workers were up and their models loaded before the clock started; the wall time includes")
        print("copying the scans into the storage folder and the round trips through Redis and PostgreSQL")
    print(f"{citizens} citizens, each a two-sided card: citizens/CPU-s is two-sided cards per second per core")
    print("CPU time is the batch's and its workers' own, whatever else the machine runs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
