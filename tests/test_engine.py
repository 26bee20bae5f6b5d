"""The Tesseract wrapper: one engine per thread, so that threads reading at once never mix their lines."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import cv2

from intake.pipeline import read_scans
from ocr.engine import get_engine
from ocr.fields import line_crop, value_lines
from ocr.layout import LAYOUTS


def _lines(samples: Path, case: dict[str, Any]) -> list[Any]:
    sides = read_scans([samples / entry["file"] for entry in case["files"]])[0]
    assert sides.front is not None
    gray = cv2.cvtColor(sides.front.image, cv2.COLOR_BGR2GRAY)
    crops = []
    for region in LAYOUTS[sides.document_type]:
        if region.side == "front" and region.kind in ("number", "name", "text"):
            crops += [line_crop(gray, line) for line in value_lines(gray, region)]
    return crops


def test_each_thread_has_its_own_engine_and_threads_reading_at_once_read_what_one_reads(
    samples: Path, sample_cases: list[dict[str, Any]]
) -> None:
    crops = _lines(samples, sample_cases[0]) + _lines(samples, sample_cases[1])
    assert len(crops) >= 6
    alone = [get_engine().read_line(crop).text for crop in crops]
    assert len(set(alone)) >= 4  # different lines, so that a mix-up would show
    engines: list[object] = []
    results: dict[int, list[str]] = {}

    def read(worker: int) -> None:
        engine = get_engine()
        assert get_engine() is engine
        engines.append(engine)
        order = crops[worker:] + crops[:worker]  # the threads read different lines at the same moment
        texts = [engine.read_line(crop).text for _ in range(3) for crop in order]
        results[worker] = texts[: len(crops)]
        assert texts == texts[: len(crops)] * 3

    threads = [threading.Thread(target=read, args=(worker,)) for worker in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len({id(engine) for engine in engines}) == 3 and get_engine() not in engines
    for worker, texts in results.items():
        assert texts == alone[worker:] + alone[:worker]
