"""Intake benchmark: per-stage milliseconds, outline accuracy and PDF sizes over a generated set, and ocrmypdf."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
# Run as a script, this file's folder comes first on the path and its name would hide the `intake` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import cv2  # noqa: E402

cv2.setNumThreads(1)  # one core per process, as batch workers run: stage times are CPU on one core

from intake.cards import CardImage, find_cards, warp_card  # noqa: E402
from intake.load import load_pages  # noqa: E402
from intake.pdf import merge_pdf  # noqa: E402
from intake.pipeline import attachment, pair_sides, settle_orientation, straighten  # noqa: E402
from intake.synth import generate_samples  # noqa: E402
from intake.synth.measure import match_card, truth_cards  # noqa: E402
from ocr.engine import get_engine  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")


def row(name: str, values: list[float], unit: str = "ms") -> str:
    if not values:
        return f"{name:<28} (none)"
    return (
        f"{name:<28} n={len(values):<5} median {statistics.median(values):8.1f} {unit}  "
        f"p95 {percentile(values, 95):8.1f} {unit}  mean {statistics.fmean(values):8.1f} {unit}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=120, help="cases (citizens) to generate; about 1.7 scans each")
    parser.add_argument("--seed", type=int, default=9001)
    parser.add_argument("--folder", type=Path, default=None, help="reuse or keep the generated set here")
    parser.add_argument("--ocrmypdf", type=int, default=4, help="scans to run through ocrmypdf --deskew (0: skip)")
    args = parser.parse_args()

    folder = args.folder or Path(tempfile.mkdtemp(prefix="motcua-bench-"))
    if not (folder / "truth.json").exists():
        started = time.perf_counter()
        generate_samples(folder, args.count, args.seed)
        print(f"generated {args.count} cases in {time.perf_counter() - started:.0f} s into {folder}")
    from intake.synth.measure import load_truth

    cases = load_truth(folder)
    engine = get_engine()
    sample = cv2.imread(str(next(folder.glob("*.jpg"))), cv2.IMREAD_GRAYSCALE)
    if sample is not None:
        engine.read_line(sample[:60, :400])  # warm up

    stages: dict[str, list[float]] = {"load (per file)": [], "find (per page)": [], "warp (per card)": []}
    stages |= {"orient+classify (per card)": [], "pdf (per citizen)": [], "find+warp (per card)": []}
    sizes_kb: list[float] = []
    misses: list[str] = []
    corner_errors: list[float] = []
    skew_errors: list[float] = []
    scans = cards_expected = cards_found = upright = sides_right = types_right = pairs_right = 0
    dpi_sizes: dict[int, list[float]] = {}
    true_side: dict[int, str] = {}  # the truth's side of each card found, apart from what the pipeline says
    for case in cases:
        found_cards: list[CardImage] = []
        for entry in case["files"]:
            scans += 1
            path = folder / entry["file"]
            t0 = time.perf_counter()
            pages = load_pages(path)
            stages["load (per file)"].append((time.perf_counter() - t0) * 1000)
            for page in pages:
                truth = truth_cards(case, entry["file"], page.index)
                cards_expected += len(truth)
                t0 = time.perf_counter()
                outlines = find_cards(page.image, page.dpi)
                find_ms = (time.perf_counter() - t0) * 1000
                if len(outlines) < len(truth):
                    misses.append(f"{entry['file']} p{page.index + 1}: {len(outlines)} of {len(truth)} cards found")
                stages["find (per page)"].append(find_ms)
                for outline in outlines:
                    t0 = time.perf_counter()
                    image = warp_card(page.image, outline.corners)
                    warp_ms = (time.perf_counter() - t0) * 1000
                    stages["warp (per card)"].append(warp_ms)
                    stages["find+warp (per card)"].append(find_ms / len(outlines) + warp_ms)
                    t0 = time.perf_counter()
                    card = settle_orientation(image, outline.corners, page, engine)
                    stages["orient+classify (per card)"].append((time.perf_counter() - t0) * 1000)
                    match = match_card(card.corners, truth)
                    if match is None:
                        misses.append(f"{entry['file']} p{page.index + 1}: an outline where no card is")
                        continue
                    if match.corner_error > 4 or not match.upright or card.side != match.truth["side"]:
                        misses.append(
                            f"{entry['file']} p{page.index + 1} ({case['document_type']} {match.truth['side']}): "
                            f"corner {match.corner_error:.1f} px, upright {match.upright}, side {card.side}"
                        )
                    cards_found += 1
                    corner_errors.append(match.corner_error * 300 / (page.dpi or 300))
                    skew_errors.append(match.skew_error)
                    upright += match.upright
                    sides_right += card.side == match.truth["side"]
                    true_side[id(card)] = match.truth["side"]
                    found_cards.append(card)
        pairs = pair_sides(found_cards)
        if len(pairs) == 1 and len(pairs[0].images) == 2 and all(c.side == true_side[id(c)] for c in pairs[0].images):
            pairs_right += 1
        else:
            misses.append(f"{case['case']}: paired as {[[c.side for c in p.images] for p in pairs]}")
        if bool(pairs) and pairs[0].document_type == case["document_type"]:
            types_right += 1
        else:
            misses.append(f"{case['case']}: {pairs[0].document_type if pairs else None} for {case['document_type']}")
        if pairs:
            t0 = time.perf_counter()
            result = merge_pdf([c.image for c in pairs[0].images])
            stages["pdf (per citizen)"].append((time.perf_counter() - t0) * 1000)
            sizes_kb.append(result.size / 1024)
            for dpi in (300, 200, 150):
                dpi_sizes.setdefault(dpi, []).append(
                    merge_pdf([c.image for c in pairs[0].images], dpi=dpi, quality=75).size / 1024
                )

    print(f"\n{len(cases)} citizens, {scans} scan files, {cards_expected} card sides on them")
    print(f"cards found and matched: {cards_found}/{cards_expected}")
    print(row("corner error (px @300dpi)", corner_errors, "px"), f" max {max(corner_errors):.1f} px")
    print(row("residual skew (degrees)", skew_errors, "deg"), f" max {max(skew_errors):.2f} deg")
    print(f"orientation right: {upright}/{cards_found}   side right: {sides_right}/{cards_found}")
    print(f"citizens paired right: {pairs_right}/{len(cases)}   document type right: {types_right}/{len(cases)}")
    for miss in misses:
        print("  miss:", miss)
    print()
    for name, values in stages.items():
        print(row(name, values))
    print()
    print(row("PDF size, default (300 dpi q70)", sizes_kb, "KB"), f" max {max(sizes_kb):.0f} KB")
    for dpi, values in dpi_sizes.items():
        print(row(f"PDF size, {dpi} dpi q75", values, "KB"))
    if args.ocrmypdf:
        compare_ocrmypdf(folder, cases, args.ocrmypdf)
    if args.folder is None:
        shutil.rmtree(folder)
    return 0


def compare_ocrmypdf(folder: Path, cases: list[dict], limit: int) -> None:
    """The same scans through `ocrmypdf --deskew` (one job, Vietnamese), against our whole path for one scan."""
    ocrmypdf = shutil.which("ocrmypdf") or str(Path(sys.executable).parent / "ocrmypdf")
    if not Path(ocrmypdf).exists():
        print("\nocrmypdf not installed: `make bench` installs it")
        return
    jpegs = [folder / e["file"] for c in cases if c["layout"] == "separate" for e in c["files"]][:limit]
    engine = get_engine()
    ours, theirs, their_sizes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for path in jpegs:
            t0 = time.perf_counter()
            attachment([card for page in load_pages(path) for card in straighten(page, engine)])
            ours.append((time.perf_counter() - t0) * 1000)
            target = Path(tmp) / (path.stem + ".pdf")
            t0 = time.perf_counter()
            done = subprocess.run(
                [
                    ocrmypdf,
                    "--deskew",
                    "-l",
                    "vie",
                    "--jobs",
                    "1",
                    "--image-dpi",
                    "300",
                    "-q",
                    str(path),
                    str(target),
                ],
                capture_output=True,
                text=True,
                env=os.environ | {"OMP_THREAD_LIMIT": "1"},
            )
            theirs.append((time.perf_counter() - t0) * 1000)
            if done.returncode == 0:
                their_sizes.append(target.stat().st_size / 1024)
            else:
                print(
                    f"ocrmypdf failed on {path.name}: {done.stderr.strip().splitlines()[-1:]}",
                    file=sys.stderr,
                )
    print(f"\nocrmypdf --deskew on {len(jpegs)} single-side scans (whole page, no card cut out):")
    print(row("ocrmypdf per scan", theirs))
    print(row("motcua per scan (all stages)", ours))
    if ours and theirs:
        print(f"ratio ocrmypdf / motcua: {statistics.median(theirs) / statistics.median(ours):.1f}x")
    if their_sizes:
        print(row("ocrmypdf PDF size", their_sizes, "KB"))


if __name__ == "__main__":
    sys.exit(main())
