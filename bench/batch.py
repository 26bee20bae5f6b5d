"""Batch benchmark: cards per second with 1 and 2 local workers on a generated folder, peak memory per worker."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=500, help="cards (citizens) to generate")
    parser.add_argument("--seed", type=int, default=7007)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--folder", type=Path, default=None, help="reuse or keep the generated set here")
    parser.add_argument("--keep", type=Path, default=None, help="keep each run's output folder here")
    args = parser.parse_args()

    folder = args.folder or Path(tempfile.gettempdir()) / f"motcua-bench-batch-{args.seed}-{args.count}"
    if not (folder / "truth.json").exists():
        started = time.perf_counter()
        generate_samples(folder, args.count, args.seed)
        print(f"generated {args.count} cards in {time.perf_counter() - started:.0f} s into {folder}")
    files = [path for path in folder.iterdir() if path.is_file() and path.name != "truth.json"]
    size = sum(path.stat().st_size for path in files)
    print(f"{args.count} cards (seed {args.seed}), {len(files)} scan files, {size / 1e6:.0f} MB; {os.cpu_count()} CPUs")
    print("names say nothing (the generator's scanner and phone names): sides pair in their file, by number or order\n")

    rows: list[dict[str, Any]] = []
    for workers in (int(w) for w in args.workers.split(",")):
        summary, quality, cpu, load = run(folder, workers, args.keep)
        peak_mb = max(summary.peak_rss_kb.values(), default=0) / 1024
        rows.append(
            {
                "workers": workers,
                "seconds": summary.seconds,
                "cards": summary.cards,
                "rate": summary.cards / summary.seconds,
                "per_worker": summary.cards / summary.seconds / max(1, workers),
                "peak_mb": peak_mb,
                "quality": quality,
                "pairings": summary.pairings,
                "retry": summary.counts["retry"],
                "cpu_per_card": cpu / summary.cards,
                "load": load,
            }
        )
    parent_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"{'workers':>7} {'wall s':>8} {'cards':>6} {'cards/s':>8} {'per worker':>10} {'CPU s/card':>10} "
        f"{'cards/CPU-s':>11} {'peak MB/worker':>15}  load average (1 min) before → after"
    )
    for r in rows:
        print(
            f"{r['workers']:>7} {r['seconds']:>8.1f} {r['cards']:>6} {r['rate']:>8.2f} {r['per_worker']:>10.2f} "
            f"{r['cpu_per_card']:>10.3f} {1 / r['cpu_per_card']:>11.2f} {r['peak_mb']:>15.0f}  {r['load']}"
        )
    print(f"\nparent process peak: {parent_mb:.0f} MB (the folder's inventory, the pairing, the results file)")
    for r in rows:
        quality, pairings = r["quality"], r["pairings"]
        print(
            f"{r['workers']} worker(s): cards paired right {quality['right']}, one side only {quality['one side']}, "
            f"mixing two citizens {quality['mixed']}, failed {quality['failed']}, retry {r['retry']}; "
            "pairing: " + ", ".join(f"{k} {v}" for k, v in pairings.most_common())
        )
    print("\nwall time includes starting the workers (a fresh interpreter each, Tesseract's models loaded once);")
    print("CPU time is the batch's and its workers' own, whatever else the machine runs: cards/CPU-s is per core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
