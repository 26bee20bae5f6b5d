"""Shared fixtures: the committed sample scans and their truth."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_cases() -> list[dict[str, Any]]:
    from intake.synth.measure import load_truth

    return load_truth(SAMPLES)
