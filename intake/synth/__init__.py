"""Synthetic scans of Vietnamese ID cards with ground truth, for tests and benchmarks."""

from __future__ import annotations

from intake.synth.cards import card_alpha, render_card, render_side
from intake.synth.generate import generate_samples
from intake.synth.people import DOCUMENT_TYPES, Person, make_person

__all__ = [
    "DOCUMENT_TYPES",
    "Person",
    "card_alpha",
    "generate_samples",
    "make_person",
    "render_card",
    "render_side",
]
