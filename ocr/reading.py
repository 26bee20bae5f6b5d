"""What reading a card gives: each field's value, confidence, source and box, plus the checks and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

FIELD_NAMES = (
    "id_number",
    "full_name",
    "date_of_birth",
    "sex",
    "nationality",
    "place_of_origin",
    "place_of_residence",
    "date_of_expiry",
    "date_of_issue",
    "old_id_number",
)

# A field at or above this confidence is prefilled as sure; below it, the officer's eye is asked for. Calibrated
# by bench/accuracy.py: at or above it, at most 1 field in 200 may be wrong.
SURE = 0.9


@dataclass
class FieldReading:
    """One field as read: `box` is (x, y, w, h) in the upright card image of `side`, for the reviewer's crop."""

    value: str | None
    confidence: float
    source: str  # qr | mrz | ocr
    side: str | None = None  # front | back
    box: tuple[int, int, int, int] | None = None
    raw: str | None = None  # what the engine returned before normalising

    @property
    def sure(self) -> bool:
        return self.value is not None and self.confidence >= SURE

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "confidence": round(self.confidence, 3),
            "source": self.source,
            "side": self.side,
            "box": list(self.box) if self.box else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FieldReading:
        """The reading `to_json` gave (with `raw` where it was added: only `to_json`'s contract leaves it out)."""
        box = data.get("box")
        return cls(
            value=data["value"],
            confidence=float(data["confidence"]),
            source=data["source"],
            side=data.get("side"),
            box=(int(box[0]), int(box[1]), int(box[2]), int(box[3])) if box else None,
            raw=data.get("raw"),
        )


@dataclass
class CardReading:
    """The reading of one card (both sides when both were given)."""

    document_type: str
    sides: list[str]
    fields: dict[str, FieldReading]
    checks: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def value(self, name: str) -> str | None:
        reading = self.fields.get(name)
        return reading.value if reading else None

    def to_json(self) -> dict[str, Any]:
        missing = FieldReading(None, 0.0, "ocr")
        return {
            "document_type": self.document_type,
            "sides": self.sides,
            "fields": {name: self.fields.get(name, missing).to_json() for name in FIELD_NAMES},
            "checks": self.checks,
            "warnings": self.warnings,
        }
