"""Duyệt hồ sơ: the reviewers' queue, one draft per screen beside its card, statistics, and exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, session, url_for
from flask_login import login_required
from sqlalchemy import func
from sqlmodel import col, select

from forms.models import AccountRequest, Officer, Unit
from forms.review import (
    DATE_FIELDS,
    REVIEW_STATUSES,
    REVIEWED_FIELDS,
    LockLost,
    QueueFilters,
    Review,
    ReviewError,
    claim,
    claim_next,
    current_values,
    decide,
    enqueue,
    machine_fields,
    queue,
    release,
    save,
    statistics,
)
from forms.rules import format_date
from ocr.reading import SURE
from web.app import db, services
from web.auth import current_officer
from web.files import crop_response, side_file_id, stored_response
from web.reading_warnings import FIELD_LABELS, all_in_vietnamese

bp = Blueprint("review", __name__, url_prefix="/review")

LABELS = FIELD_LABELS
STATUS_LABELS = {"pending": "Chờ duyệt", "approved": "Đã duyệt", "rejected": "Đã từ chối"}

F = TypeVar("F", bound=Callable[..., Any])


def reviewers_only(view: F) -> F:
    """Reviewers and administrators; an officer at the counter has no business here."""

    @wraps(view)
    @login_required
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_officer().role not in ("reviewer", "administrator"):
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _filters() -> QueueFilters:
    status = request.args.get("status", "pending")
    unit = request.args.get("unit", "")
    return QueueFilters(
        status=status if status in REVIEW_STATUSES else "",
        unit=int(unit) if unit.isdigit() else None,
        batch=request.args.get("batch", "").strip(),
    )


def _display(name: str, value: str | None) -> str:
    if value and name in DATE_FIELDS:
        try:
            return format_date(date.fromisoformat(value))
        except ValueError:
            return value
    return value or ""


@bp.get("/")
@reviewers_only
def index() -> Any:
    store = db()
    enqueue(store)
    filters = _filters()
    rows = queue(store, filters)
    units = store.exec(select(Unit).order_by(Unit.name)).all()
    counts = dict.fromkeys(REVIEW_STATUSES, 0)
    counts |= dict(store.exec(select(Review.status, func.count()).group_by(Review.status)).all())
    holders = {officer.id: officer.full_name for officer in store.exec(select(Officer))}
    store.commit()
    return render_template(
        "review/index.html",
        rows=rows,
        filters=filters,
        units=units,
        counts=counts,
        holders=holders,
        status_labels=STATUS_LABELS,
        now=services().clock(),
    )


@bp.post("/next")
@reviewers_only
def next_draft() -> Any:
    """[Bắt đầu duyệt] / after each decision: the most doubtful draft nobody else holds."""
    store = db()
    enqueue(store)
    skipped = frozenset(session.get("review_skipped", []))
    filters = QueueFilters("pending", _filters().unit, _filters().batch)
    review = claim_next(store, current_officer(), filters, skip=skipped, now=services().clock())
    if review is None:
        flash("Không còn hồ sơ nào chờ duyệt." if not skipped else "Chỉ còn các hồ sơ đã bỏ qua.")
        session.pop("review_skipped", None)
        return redirect(url_for("review.index"))
    return redirect(url_for("review.draft", review_id=review.id))


def _held(review_id: int) -> tuple[Review, AccountRequest]:
    store = db()
    review = store.get(Review, review_id)
    if review is None:
        abort(404)
    found = store.get(AccountRequest, review.request_id)
    if found is None:
        abort(404)
    return review, found


@bp.get("/<int:review_id>")
@reviewers_only
def draft(review_id: int) -> Any:
    store = db()
    review, found = _held(review_id)
    holder = None
    if review.status == "pending" and not claim(store, review_id, current_officer(), services().clock()):
        review = store.get(Review, review_id) or review
        holder = store.get(Officer, review.locked_by) if review.locked_by else None
    store.refresh(review)
    machine = machine_fields(found)
    values = current_values(review, found)
    stored = json.loads(found.reading or "{}")
    fields = [
        {
            "name": name,
            "label": LABELS[name],
            "value": _display(name, values.get(name)),
            "machine": _display(name, machine.get(name, {}).get("value")),
            "confidence": machine.get(name, {}).get("confidence", 0.0),
            "source": machine.get(name, {}).get("source", ""),
            "doubtful": machine.get(name, {}).get("value") is None or machine.get(name, {}).get("confidence", 0) < SURE,
            "has_crop": bool(machine.get(name, {}).get("box")),
        }
        for name in REVIEWED_FIELDS
    ]
    body = render_template(
        "review/draft.html",
        review=review,
        draft=found,
        fields=fields,
        holder=holder,
        sides=sorted(stored.get("side_files", {})),
        warnings=all_in_vietnamese(stored.get("warnings", [])),
        status_labels=STATUS_LABELS,
    )
    store.commit()
    return body, 409 if holder else 200


@bp.post("/<int:review_id>")
@reviewers_only
def act(review_id: int) -> Any:
    """save (as the reviewer types), approve (Enter), skip, reject (with a reason)."""
    store = db()
    review, _found = _held(review_id)
    officer = current_officer()
    action = request.form.get("action", "save")
    entries = {name: request.form[name] for name in REVIEWED_FIELDS if name in request.form}
    wants_json = request.accept_mimetypes.best == "application/json"
    try:
        if action == "skip":
            release(store, review, officer)
            session["review_skipped"] = [*session.get("review_skipped", []), review_id]
            return redirect(url_for("review.next_draft"), code=307)
        corrections, errors = save(store, review, officer, entries, services().clock())
        if errors:
            if wants_json:
                return jsonify(saved=False, errors=errors), 422
            for name, message in errors.items():
                flash(f"{LABELS[name]}: {message}")
            return redirect(url_for("review.draft", review_id=review_id))
        if action == "save":
            if wants_json:
                return jsonify(saved=True, corrections=len(corrections))
            return redirect(url_for("review.draft", review_id=review_id))
        if action == "approve":
            decide(store, review, officer, "approved", now=services().clock())
        elif action == "reject":
            decide(store, review, officer, "rejected", reason=request.form.get("reason", ""), now=services().clock())
        else:
            abort(400)
    except LockLost as error:
        store.rollback()
        if wants_json:
            return jsonify(saved=False, errors={"form": str(error)}), 409
        flash(str(error))
        return redirect(url_for("review.index"))
    except ReviewError as error:
        store.rollback()
        flash(str(error))
        return redirect(url_for("review.draft", review_id=review_id))
    flash("Đã duyệt hồ sơ." if action == "approve" else "Đã từ chối hồ sơ.")
    return redirect(url_for("review.next_draft"), code=307)


@bp.get("/<int:review_id>/crop/<field>")
@reviewers_only
def crop(review_id: int, field: str) -> Any:
    _review, found = _held(review_id)
    reading = machine_fields(found).get(field, {})
    return crop_response(found, reading.get("side"), reading.get("box"))


@bp.get("/<int:review_id>/side/<side>")
@reviewers_only
def side(review_id: int, side: str) -> Any:
    _review, found = _held(review_id)
    return stored_response(side_file_id(found, side))


@bp.get("/<int:review_id>/pdf")
@reviewers_only
def pdf(review_id: int) -> Any:
    _review, found = _held(review_id)
    return stored_response(found.attachment_id)


@bp.get("/stats")
@reviewers_only
def stats() -> Any:
    table, series = statistics(db())
    types = sorted({kind for per_type in table.values() for kind in per_type})
    db().commit()
    return render_template(
        "review/stats.html", table=table, types=types, series=series, labels=LABELS, fields=REVIEWED_FIELDS
    )


def _approved() -> list[dict[str, Any]]:
    store = db()
    rows = store.exec(
        select(Review, AccountRequest)
        .join(AccountRequest, col(AccountRequest.id) == col(Review.request_id))
        .where(Review.status == "approved")
        .order_by(col(Review.reviewed_at))
    ).all()
    out = []
    for review, found in rows:
        values = current_values(review, found)
        out.append({"request_id": found.id, "document_type": review.document_type, **values,
                    "reviewed_at": review.reviewed_at.isoformat() if review.reviewed_at else None})  # fmt: skip
    store.commit()
    return out


@bp.get("/export.<kind>")
@reviewers_only
def export(kind: str) -> Any:
    rows = _approved()
    header = ["request_id", "document_type", *REVIEWED_FIELDS, "reviewed_at"]
    if kind == "jsonl":
        body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return Response(body, mimetype="application/x-ndjson",
                        headers={"Content-Disposition": "attachment; filename=ho-so-da-duyet.jsonl"})  # fmt: skip
    if kind == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")
        writer = csv.DictWriter(buffer, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
        return Response(buffer.getvalue(), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=ho-so-da-duyet.csv"})  # fmt: skip
    if kind == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Hồ sơ đã duyệt")
        sheet.append(header)
        for row in rows:
            sheet.append([row.get(name) for name in header])
        buffer_bytes = io.BytesIO()
        workbook.save(buffer_bytes)
        return Response(buffer_bytes.getvalue(),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": "attachment; filename=ho-so-da-duyet.xlsx"})  # fmt: skip
    abort(404)
