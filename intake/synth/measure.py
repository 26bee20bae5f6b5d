"""Comparing what the intake found with a sample set's truth: shared by the tests and the benchmarks."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


def load_truth(folder: Path) -> list[dict[str, Any]]:
    """The cases of a generated sample folder."""
    cases: list[dict[str, Any]] = json.loads((folder / "truth.json").read_text(encoding="utf-8"))["cases"]
    return cases


def truth_cards(case: dict[str, Any], file: str, page: int) -> list[dict[str, Any]]:
    """The cards the truth puts on one page of one file."""
    for entry in case["files"]:
        if entry["file"] == file:
            for truth_page in entry["pages"]:
                if truth_page["page"] == page:
                    cards: list[dict[str, Any]] = truth_page["cards"]
                    return cards
    return []


@dataclass
class CardMatch:
    """How one found card compares with the truth card it lies on."""

    truth: dict[str, Any]
    corner_error: float  # px, largest of the four corners, ignoring which way up
    skew_error: float  # degrees between the found and true top edges, modulo a half turn
    upright: bool  # the found top-left is the true top-left


def match_card(corners: np.ndarray, cards: list[dict[str, Any]]) -> CardMatch | None:
    """The truth card whose centre is nearest the found one (None if none is within half a card)."""
    centre = corners.mean(axis=0)
    best = None
    for card in cards:
        truth = np.array(card["corners"], dtype=np.float64)
        distance = float(np.linalg.norm(truth.mean(axis=0) - centre))
        if distance < np.linalg.norm(truth[1] - truth[0]) / 2 and (best is None or distance < best[0]):
            best = (distance, card, truth)
    if best is None:
        return None
    _, card, truth = best
    # The truth's pixel (i, j) covers [i, i+1) x [j, j+1); OpenCV, and so the outline, puts pixel centres on
    # integers. Half a pixel apart.
    truth = truth - 0.5
    as_is = float(np.max(np.linalg.norm(corners - truth, axis=1)))
    turned = float(np.max(np.linalg.norm(np.roll(corners, -2, axis=0) - truth, axis=1)))
    return CardMatch(
        truth=card,
        corner_error=min(as_is, turned),
        skew_error=_skew(corners, truth),
        upright=as_is <= turned,
    )


def _skew(found: np.ndarray, truth: np.ndarray) -> float:
    def angle(quad: np.ndarray) -> float:
        # The mean direction of top and bottom edges: the card's in-plane rotation.
        vector = (quad[1] - quad[0]) + (quad[2] - quad[3])
        return math.degrees(math.atan2(vector[1], vector[0]))

    difference = (angle(found) - angle(truth)) % 180.0
    return min(difference, 180.0 - difference)
