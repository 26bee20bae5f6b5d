"""The `motcua` command line: each subcommand one job, intake errors mapped to documented exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from intake.errors import ExitCode, IntakeError

F = TypeVar("F", bound=Callable[..., Any])


def exits_cleanly(function: F) -> F:
    """Turn our errors into one line on stderr and their exit code, instead of a traceback."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except IntakeError as error:
            click.echo(f"motcua: {error}", err=True)
            sys.exit(int(error.exit_code))

    return wrapper  # type: ignore[return-value]


@click.group()
@click.version_option(package_name="motcua")
def main() -> None:
    """Intake of ID-card scans for a ward's one-stop counter."""


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", default=30, show_default=True, help="How many cases (citizens) to generate.")
@click.option("--seed", default=1, show_default=True, help="Same seed, same files.")
@click.option("--committed", is_flag=True, help="The fixed mix of the committed set (every kind at least twice).")
def samples(out: Path, count: int, seed: int, committed: bool) -> None:
    """Generate synthetic scans of ID cards with their truth file (OUT/truth.json)."""
    from intake.synth import generate_samples

    cases = generate_samples(out, count, seed, committed=committed)
    size = sum(path.stat().st_size for path in out.iterdir() if path.is_file())
    click.echo(f"{len(cases)} cases, {sum(len(c['files']) for c in cases)} files, {size / 1e6:.1f} MB in {out}")


@main.command()
@click.argument("scans", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--budget-kb", type=int, default=None, help="Size budget in KB (at most 5120, the procedure's limit).")
@click.option(
    "--dpi", default=300, show_default=True, type=click.IntRange(150, 600), help="Resolution of the cards in the PDF."
)
@click.option(
    "--quality", default=70, show_default=True, type=click.IntRange(50, 100), help="JPEG quality of the card images."
)
@exits_cleanly
def pdf(scans: tuple[Path, ...], output: Path, budget_kb: int | None, dpi: int, quality: int) -> None:
    """Write the one-PDF attachment (both sides, true size, one A4 page) of the card in SCANS."""
    from intake.pdf import write_pdf
    from intake.pipeline import attachment, read_scans

    cards = read_scans(scans)
    if len(cards) > 1:
        click.echo(f"motcua: warning: {len(cards)} cards found; the PDF holds them all", err=True)
    for sides in cards:
        for warning in sides.warnings:
            click.echo(f"motcua: warning: {warning}", err=True)
    budget = budget_kb * 1024 if budget_kb else None
    result = attachment([card for sides in cards for card in sides.images], budget, dpi=dpi, quality=quality)
    write_pdf(result, output)
    click.echo(f"{output}: {result.size / 1024:.0f} KB, {result.dpi} dpi, JPEG quality {result.quality}")


@main.command()
@click.argument("scans", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per card side.")
@click.option("--debug", type=click.Path(file_okay=False, path_type=Path), help="Write each stage's image here.")
@exits_cleanly
def cards(scans: tuple[Path, ...], as_json: bool, debug: Path | None) -> None:
    """Find, straighten and classify the card sides in SCANS."""
    pairs = _paired_cards(scans, debug)
    rows: list[dict[str, Any]] = []
    for number, sides in enumerate(pairs, start=1):
        for card in sides.images:
            rows.append(
                {
                    "card": number,
                    "file": card.source,
                    "page": card.page,
                    "side": card.side,
                    "document_type": card.document_type,
                    "corners": [[round(float(x), 1), round(float(y), 1)] for x, y in card.corners],
                    "orientation_confidence": round(card.orientation_confidence, 2),
                }
            )
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    for row in rows:
        click.echo(f"card {row['card']}  {row['side']:<7} {row['document_type']:<13} {row['file']} p{row['page'] + 1}")


def _paired_cards(scans: tuple[Path, ...], debug: Path | None) -> list[Any]:
    """Every card side in the scans, straightened and paired; each stage's image in `debug` when asked."""
    from intake.pipeline import load_scans, pair_sides, straighten

    found = []
    for page in load_scans(scans):
        page_cards = straighten(page)
        found += page_cards
        if debug:
            _debug_page(debug, page, page_cards)
    return pair_sides(found)


def _debug_page(folder: Path, page: Any, page_cards: list[Any]) -> None:
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(page.source).stem}_p{page.index + 1}"
    outline = page.image.copy()
    for card in page_cards:
        corners = card.corners.astype(np.int32)
        cv2.polylines(outline, [corners], True, (0, 0, 255), max(2, page.image.shape[1] // 400))
        cv2.circle(outline, tuple(int(v) for v in corners[0]), 12, (0, 200, 0), -1)  # the upright top-left
    cv2.imwrite(str(folder / f"{stem}_outline.jpg"), outline)
    for index, card in enumerate(page_cards):
        cv2.imwrite(str(folder / f"{stem}_card{index + 1}_{card.side}.jpg"), card.image)


@main.command()
@click.argument("scans", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="The reading as one JSON object (see the README).")
@click.option("--debug", type=click.Path(file_okay=False, path_type=Path), help="Write each stage's image here.")
@exits_cleanly
def read(scans: tuple[Path, ...], as_json: bool, debug: Path | None) -> None:
    """Read the card in SCANS: number, name, dates and the rest, each with its confidence and source."""
    from intake.pipeline import read_sides
    from ocr.reading import FIELD_NAMES, SURE

    pairs = _paired_cards(scans, debug)
    if len(pairs) > 1:
        click.echo(f"motcua: warning: {len(pairs)} cards found; reading the first", err=True)
    reading = read_sides(pairs[0])
    reading.warnings = pairs[0].warnings + reading.warnings
    if debug:
        _debug_fields(debug, pairs[0], reading)
    if as_json:
        click.echo(json.dumps(reading.to_json(), ensure_ascii=False, indent=1))
        return
    click.echo(f"document: {reading.document_type}   sides: {', '.join(reading.sides)}")
    for name in FIELD_NAMES:
        field = reading.fields.get(name)
        if field is None or field.value is None:
            click.echo(f"  {name:<20} -")
            continue
        mark = " " if field.confidence >= SURE else "?"
        click.echo(f"{mark} {name:<20} {field.value:<45} {field.confidence:.2f} {field.source}")
    for warning in reading.warnings:
        click.echo(f"warning: {warning}")


def _debug_fields(folder: Path, sides: Any, reading: Any) -> None:
    import cv2

    for side_name in ("front", "back"):
        card = getattr(sides, side_name)
        if card is None:
            continue
        image = card.image.copy()
        for name, field in reading.fields.items():
            if field.box is None or field.side != side_name:
                continue
            x, y, w, h = field.box
            colour = (0, 160, 0) if field.confidence >= 0.9 else (0, 0, 230)
            cv2.rectangle(image, (x, y), (x + w, y + h), colour, 2)
            cv2.putText(image, name, (x, max(12, y - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
        cv2.imwrite(str(folder / f"fields_{side_name}.jpg"), image)


@main.command("demo-read")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@exits_cleanly
def demo_read(folder: Path, out: Path) -> None:
    """The sample set through the pipeline: per citizen, the PDF attachment and the reading (JSON), a line each.

    Files are grouped by citizen with the set's truth file (grouping a folder by content is the batch's job).
    """
    from intake.pdf import write_pdf
    from intake.pipeline import attachment, read_scans, read_sides
    from ocr.reading import SURE

    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for case in truth["cases"]:
        files = [folder / entry["file"] for entry in case["files"]]
        try:
            pairs = read_scans(files)
        except IntakeError as error:
            failures += 1
            click.echo(f"{case['case']}: {error}", err=True)
            continue
        sides = pairs[0]
        result = attachment(sides.images)
        write_pdf(result, out / f"{case['case']}.pdf")
        reading = read_sides(sides)
        (out / f"{case['case']}.json").write_text(json.dumps(reading.to_json(), ensure_ascii=False, indent=1))
        shown = []
        for name in ("id_number", "full_name", "date_of_birth"):
            field = reading.fields.get(name)
            value = field.value if field and field.value else "-"
            shown.append(value if field and field.confidence >= SURE else f"{value}?")
        click.echo(
            f"{case['case']}: {reading.document_type:<13} {' | '.join(shown):<60} PDF {result.size / 1024:4.0f} KB"
        )
    click.echo(f"PDFs and readings in {out}; '?' marks a field below the sure threshold ({SURE}).")
    if failures:
        sys.exit(int(ExitCode.no_card_found))


def _add_management() -> None:
    from web.manage import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_add_management()
