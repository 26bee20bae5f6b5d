"""The reviewers' queue: drafts most doubtful first, one reviewer per draft at a time, every correction recorded."""

from __future__ import annotations

import json
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Text, or_, update
from sqlmodel import Field, Session, SQLModel, col, select

from forms.models import AccountRequest, Officer, utcnow
from forms.rules import FormErrors, parse_day, validate_id_number

# The reading's fields a reviewer checks, in the order the screen shows them.
REVIEWED_FIELDS = (
    "id_number",
    "full_name",
    "date_of_birth",
    "sex",
    "nationality",
    "place_of_origin",
    "place_of_residence",
    "date_of_issue",
    "date_of_expiry",
    "old_id_number",
)
DATE_FIELDS = ("date_of_birth", "date_of_issue", "date_of_expiry")
# The account needs these three; a draft cannot be approved without them.
REQUIRED = ("id_number", "full_name", "date_of_birth")

LOCK = timedelta(minutes=15)  # a reviewer who walks away frees the draft after this long
REVIEW_STATUSES = ("pending", "approved", "rejected")


class Review(SQLModel, table=True):
    """A draft's place in the queue: how doubtful it is, who holds it, what the reviewer decided."""

    __tablename__ = "review"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="account_request.id", unique=True)
    status: str = Field(max_length=20, default="pending", index=True)
    doubt: float = Field(default=0.0, index=True)  # lower is more doubtful: the queue's order
    document_type: str = Field(max_length=20, default="unknown")
    # The values as the reviewer left them (dates ISO), over the machine's reading.
    values: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    locked_by: int | None = Field(default=None, foreign_key="officer.id")
    locked_until: datetime | None = None
    reviewer_id: int | None = Field(default=None, foreign_key="officer.id")
    reviewed_at: datetime | None = None
    reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class Correction(SQLModel, table=True):
    """One field changed by a reviewer: what the machine said, how sure, from where, and what it became."""

    __tablename__ = "correction"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="account_request.id", index=True)
    field: str = Field(max_length=40)
    document_type: str = Field(max_length=20)
    original_value: str | None = Field(default=None, max_length=500)
    original_confidence: float = 0.0
    original_source: str = Field(max_length=10, default="ocr")
    corrected_value: str | None = Field(default=None, max_length=500)
    reviewer_id: int = Field(foreign_key="officer.id")
    at: datetime = Field(default_factory=utcnow, index=True)


class ReviewError(Exception):
    """A step the reviewer cannot take; the message is for them, in Vietnamese."""


class LockLost(ReviewError):
    def __init__(self) -> None:
        super().__init__("Hồ sơ này đang do người khác duyệt, hoặc đã hết thời gian giữ; hãy mở lại từ hàng đợi.")


def machine_fields(request: AccountRequest) -> dict[str, dict[str, Any]]:
    """The machine's reading of each field: value (dates ISO), confidence, source, side, box."""
    if not request.reading:
        return {}
    stored = json.loads(request.reading)
    fields: dict[str, dict[str, Any]] = stored.get("card", {}).get("fields", {})
    return fields


def doubt_of(request: AccountRequest) -> float:
    """How sure the machine was of the draft as a whole: its least sure required field, less for each warning."""
    fields = machine_fields(request)
    warnings = json.loads(request.reading).get("warnings", []) if request.reading else []
    confidences = [float(fields.get(name, {}).get("confidence") or 0.0) for name in REQUIRED]
    return round(max(0.0, min(confidences) - 0.1 * len(warnings)), 3)


def enqueue(session: Session) -> int:
    """Give every batch draft not yet in the queue its place; returns how many joined."""
    waiting = session.exec(
        select(AccountRequest)
        .outerjoin(Review, col(Review.request_id) == col(AccountRequest.id))
        .where(col(Review.id).is_(None), AccountRequest.origin == "batch", col(AccountRequest.reading).is_not(None))
    ).all()
    for request in waiting:
        stored = json.loads(request.reading or "{}")
        session.add(
            Review(
                request_id=request.id or 0,
                doubt=doubt_of(request),
                document_type=stored.get("document_type") or stored.get("card", {}).get("document_type", "unknown"),
            )
        )
    session.commit()
    return len(waiting)


@dataclass(frozen=True)
class QueueFilters:
    """What the queue page filters by."""

    status: str = "pending"
    unit: int | None = None
    batch: str = ""


def _filtered(statement: Any, filters: QueueFilters) -> Any:
    if filters.status:
        statement = statement.where(Review.status == filters.status)
    if filters.unit is not None:
        statement = statement.where(AccountRequest.unit_id == filters.unit)
    if filters.batch:
        statement = statement.where(col(AccountRequest.batch) == filters.batch)
    return statement


def queue(session: Session, filters: QueueFilters, *, limit: int = 50) -> list[tuple[Review, AccountRequest]]:
    """The queue's head, most doubtful first."""
    statement = select(Review, AccountRequest).join(AccountRequest, col(AccountRequest.id) == col(Review.request_id))
    rows = session.exec(_filtered(statement, filters).order_by(col(Review.doubt), col(Review.id)).limit(limit))
    return [(review, request) for review, request in rows]


def _take(session: Session, review_id: int, reviewer: Officer, now: datetime) -> bool:
    # One conditional UPDATE: of two reviewers asking at once, the database lets exactly one through.
    result = session.execute(
        update(Review)
        .where(
            col(Review.id) == review_id,
            col(Review.status) == "pending",
            or_(
                col(Review.locked_by).is_(None),
                col(Review.locked_until) < now,
                col(Review.locked_by) == reviewer.id,
            ),
        )
        .values(locked_by=reviewer.id, locked_until=now + LOCK)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def claim(session: Session, review_id: int, reviewer: Officer, now: datetime | None = None) -> bool:
    """Hold this draft for `reviewer`; False if another reviewer holds it or it is decided."""
    return _take(session, review_id, reviewer, now or utcnow())


def claim_next(
    session: Session,
    reviewer: Officer,
    filters: QueueFilters = QueueFilters(),
    *,
    skip: frozenset[int] = frozenset(),
    now: datetime | None = None,
) -> Review | None:
    """The most doubtful pending draft nobody else holds, now held by `reviewer`."""
    now = now or utcnow()
    statement = (
        select(Review.id)
        .join(AccountRequest, col(AccountRequest.id) == col(Review.request_id))
        .where(
            or_(col(Review.locked_by).is_(None), col(Review.locked_until) < now, col(Review.locked_by) == reviewer.id)
        )
    )
    if skip:
        statement = statement.where(col(Review.id).not_in(skip))
    candidates = session.exec(
        _filtered(statement, QueueFilters("pending", filters.unit, filters.batch))
        .order_by(col(Review.doubt), col(Review.id))
        .limit(20)
    ).all()
    session.commit()
    for review_id in candidates:
        if _take(session, review_id, reviewer, now):
            return session.get(Review, review_id)
    return None


def release(session: Session, review: Review, reviewer: Officer) -> None:
    """Let go of a draft without deciding (skip)."""
    session.execute(
        update(Review)
        .where(col(Review.id) == review.id, col(Review.locked_by) == reviewer.id)
        .values(locked_by=None, locked_until=None)
    )
    session.commit()


def current_values(review: Review, request: AccountRequest) -> dict[str, str | None]:
    """Each field as it now stands: the reviewer's value where they gave one, else the machine's."""
    machine = machine_fields(request)
    chosen = json.loads(review.values or "{}")
    return {name: chosen.get(name, machine.get(name, {}).get("value")) for name in REVIEWED_FIELDS}


def normalise(name: str, text: str) -> str | None:
    """A reviewer's entry in the reading's own form (dates ISO, names upper case); ValueError if it cannot be."""
    text = " ".join(text.split())
    if not text:
        return None
    if name in DATE_FIELDS:
        return parse_day(text).isoformat()
    if name == "id_number":
        try:
            return validate_id_number(text)
        except FormErrors as error:
            raise ValueError(error.errors["id_number"]) from error
    if name == "sex":
        folded = text.lower()
        if folded in ("nam", "male", "m"):
            return "Nam"
        if folded in ("nữ", "nu", "female", "f"):
            return "Nữ"
        raise ValueError("Nam hoặc Nữ")
    if name in ("full_name",):
        return unicodedata.normalize("NFC", text.upper())
    return unicodedata.normalize("NFC", text)


def save(
    session: Session, review: Review, reviewer: Officer, entries: dict[str, str], now: datetime | None = None
) -> tuple[list[Correction], dict[str, str]]:
    """Take the reviewer's entries; each field that changes is recorded as a correction. Returns (new, errors)."""
    now = now or utcnow()
    fresh = session.get(Review, review.id)
    if fresh is None or fresh.locked_by != reviewer.id or (fresh.locked_until and fresh.locked_until < now):
        raise LockLost()
    request = session.get(AccountRequest, fresh.request_id)
    assert request is not None
    machine = machine_fields(request)
    before = current_values(fresh, request)
    chosen = json.loads(fresh.values or "{}")
    errors: dict[str, str] = {}
    made: list[Correction] = []
    for name in REVIEWED_FIELDS:
        if name not in entries:
            continue
        try:
            value = normalise(name, entries[name])
        except ValueError as error:
            errors[name] = f"Giá trị không hợp lệ: {error}"
            continue
        if value == before.get(name):
            continue
        found = machine.get(name, {})
        correction = Correction(
            request_id=request.id or 0,
            field=name,
            document_type=fresh.document_type,
            original_value=found.get("value"),
            original_confidence=float(found.get("confidence") or 0.0),
            original_source=found.get("source") or "ocr",
            corrected_value=value,
            reviewer_id=reviewer.id or 0,
            at=now,
        )
        session.add(correction)
        made.append(correction)
        chosen[name] = value
    fresh.values = json.dumps(chosen, ensure_ascii=False)
    fresh.locked_until = now + LOCK  # working on it keeps it
    session.add(fresh)
    after = current_values(fresh, request)
    request.id_number = after["id_number"]
    request.full_name = after["full_name"]
    request.date_of_birth = date.fromisoformat(after["date_of_birth"]) if after["date_of_birth"] else None
    request.updated_at = now
    session.add(request)
    session.commit()
    return made, errors


def decide(
    session: Session, review: Review, reviewer: Officer, status: str, *, reason: str = "", now: datetime | None = None
) -> None:
    """Approve (the three required fields present) or reject (with a reason) the draft held by `reviewer`."""
    now = now or utcnow()
    fresh = session.get(Review, review.id)
    if fresh is None or fresh.locked_by != reviewer.id:
        raise LockLost()
    request = session.get(AccountRequest, fresh.request_id)
    assert request is not None
    if status == "approved":
        values = current_values(fresh, request)
        missing = [name for name in REQUIRED if not values.get(name)]
        if missing:
            raise ReviewError("Chưa đủ thông tin để duyệt: " + ", ".join(missing))
    elif status == "rejected":
        if not reason.strip():
            raise ReviewError("Hãy ghi lý do từ chối.")
    else:
        raise ValueError(status)
    fresh.status = status
    fresh.reason = reason.strip()[:500] or None
    fresh.reviewer_id = reviewer.id
    fresh.reviewed_at = now
    fresh.locked_by = None
    fresh.locked_until = None
    session.add(fresh)
    session.commit()


@dataclass
class FieldFigures:
    """How often the machine was right on one field of one generation, among decided drafts."""

    reviewed: int = 0
    right: int = 0

    @property
    def rate(self) -> float | None:
        return self.right / self.reviewed if self.reviewed else None


def statistics(session: Session) -> tuple[dict[str, dict[str, FieldFigures]], list[tuple[date, int, int]]]:
    """Per field and generation, how often the machine was right; and per week, fields right out of reviewed."""
    decided = session.exec(
        select(Review, AccountRequest)
        .join(AccountRequest, col(AccountRequest.id) == col(Review.request_id))
        .where(Review.status == "approved")
    ).all()
    corrected: dict[int, set[str]] = defaultdict(set)
    for correction in session.exec(select(Correction)):
        corrected[correction.request_id].add(correction.field)
    table: dict[str, dict[str, FieldFigures]] = defaultdict(lambda: defaultdict(FieldFigures))
    weeks: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for review, request in decided:
        values = current_values(review, request)
        reviewed_at = review.reviewed_at or review.created_at
        week = (reviewed_at - timedelta(days=reviewed_at.weekday())).date()
        for name in REVIEWED_FIELDS:
            if values.get(name) is None and name not in corrected[review.request_id]:
                continue  # neither the machine nor the reviewer has a value: nothing was judged
            figures = table[name][review.document_type]
            figures.reviewed += 1
            weeks[week][1] += 1
            if name not in corrected[review.request_id]:
                figures.right += 1
                weeks[week][0] += 1
    series = [(week, right, total) for week, (right, total) in sorted(weeks.items())]
    return {name: dict(per_type) for name, per_type in table.items()}, series
