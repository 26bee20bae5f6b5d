"""Tạo tài khoản công dân: the list with its filters and exports, and the one-page new-account procedure."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import date, timedelta
from functools import partial
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required
from sqlalchemy import ColumnElement, func, or_, true
from sqlmodel import col, select

from forms.accounts import (
    ProcedureError,
    SmsFailed,
    audit,
    cancel_request,
    create_account,
    find_account,
    may_act,
    save_request,
    send_otp,
)
from forms.attachment import CONTENT_TYPES, AttachmentError, sniff_attachment
from forms.models import AccountRequest, Officer, StationScan, StoredFile, Unit, utcnow
from forms.phone import mask_phone
from forms.request_form import RequestFormData, render_request_form
from forms.rules import (
    CitizenInfo,
    FormErrors,
    format_date,
    mask_id_number,
    parse_day,
    validate_citizen,
    validate_id_number,
)
from forms.search import AccountFilters, all_accounts, search_accounts
from forms.storage import store_file
from web.app import db, services
from web.auth import current_officer
from web.files import crop_response, stored_response
from web.filters import LOCAL_ZONE
from web.intake_messages import intake_message
from web.reading_warnings import all_in_vietnamese
from web.scanning import ScanJobs, scan_and_record

bp = Blueprint("accounts", __name__, url_prefix="/accounts")

PER_PAGE = 20
FORM_FIELDS = ("id_number", "full_name", "date_of_birth", "phone", "email", "unit")


# ---------------------------------------------------------------- the list


def _parse_day(text: str) -> date | None:
    try:
        return parse_day(text)
    except ValueError:
        return None


def _filters(args: Mapping[str, str]) -> tuple[AccountFilters, dict[str, str]]:
    errors = {}
    days: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        text = args.get(name, "").strip()
        days[name] = _parse_day(text) if text else None
        if text and days[name] is None:
            errors[name] = "Ngày phải theo dạng dd/mm/yyyy."
    unit_text = args.get("unit", "").strip()
    filters = AccountFilters(
        full_name=args.get("full_name", ""),
        phone=args.get("phone", ""),
        id_number=args.get("id_number", ""),
        officer=args.get("officer", ""),
        unit=int(unit_text) if unit_text.isdigit() else None,
        date_from=days["date_from"],
        date_to=days["date_to"],
    )
    return filters, errors


@bp.get("/")
@login_required
def index() -> Any:
    filters, errors = _filters(request.args)
    page = request.args.get("page", "1")
    page_number = int(page) if page.isdigit() else 1
    session = db()
    rows, total = search_accounts(session, filters, page=page_number, per_page=PER_PAGE)
    units = session.exec(select(Unit).order_by(Unit.name)).all()
    session.commit()
    pages = max(1, (total + PER_PAGE - 1) // PER_PAGE)
    query = {key: value for key, value in request.args.items() if key != "page" and value}
    return render_template(
        "accounts/index.html",
        rows=rows,
        total=total,
        page=page_number,
        pages=pages,
        per_page=PER_PAGE,
        units=units,
        args=request.args,
        query=query,
        errors=errors,
    )


EXPORT_HEADER = ("STT", "Tên công dân", "CMND/CCCD", "Ngày sinh", "Số điện thoại", "Email", "Cán bộ tạo", "Đơn vị",
                 "Thời gian tạo")  # fmt: skip


def _export_rows() -> Any:
    filters, _errors = _filters(request.args)
    for number, row in enumerate(all_accounts(db(), filters), start=1):
        yield (
            number,
            row.full_name,
            row.id_number,
            format_date(row.date_of_birth),
            row.phone,
            row.email or "",
            row.officer_name,
            row.unit_name,
            row.created_at.strftime("%d/%m/%Y %H:%M"),
        )


@bp.get("/export.csv")
@login_required
def export_csv() -> Any:
    audit(db(), current_officer(), "export", detail="csv")
    db().commit()
    buffer = io.StringIO()
    buffer.write("\ufeff")  # Excel opens UTF-8 CSV as UTF-8 only with the byte-order mark
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_HEADER)
    writer.writerows(_export_rows())
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=tai-khoan-cong-dan.csv"},
    )


@bp.get("/export.xlsx")
@login_required
def export_xlsx() -> Any:
    from openpyxl import Workbook

    audit(db(), current_officer(), "export", detail="xlsx")
    db().commit()
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Tài khoản công dân")
    sheet.append(list(EXPORT_HEADER))
    for row in _export_rows():
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(
        buffer.getvalue(),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename=tai-khoan-cong-dan.xlsx"},
    )


# ---------------------------------------------------------------- one request


@bp.post("/new")
@login_required
def new() -> Any:
    """[Thêm mới]: a fresh draft in the officer's unit, then its page."""
    officer = current_officer()
    session = db()
    draft = AccountRequest(officer_id=officer.id, unit_id=officer.unit_id, origin="counter")
    session.add(draft)
    session.flush()
    audit(session, officer, "request_opened", request=draft)
    session.commit()
    return redirect(url_for("accounts.edit", request_id=draft.id))


def _load(request_id: int) -> AccountRequest:
    found = db().get(AccountRequest, request_id)
    if found is None:
        abort(404)
    officer = current_officer()
    if not may_act(officer, found):
        abort(403)
    if found.unit_id is None and found.officer_id is None:
        # A reviewed batch draft opened at the counter becomes this officer's, in their unit.
        found.unit_id, found.officer_id = officer.unit_id, officer.id
        db().add(found)
        db().commit()
    return found


def _units(officer: Officer) -> list[Unit]:
    session = db()
    if officer.role == "administrator":
        return list(session.exec(select(Unit).order_by(Unit.name)).all())
    own = session.get(Unit, officer.unit_id)
    return [own] if own else []


def _stored_reading(draft: AccountRequest) -> dict[str, Any]:
    if not draft.reading:
        return {}
    found: dict[str, Any] = json.loads(draft.reading)
    return found


def _values(draft: AccountRequest) -> dict[str, str]:
    """The form as saved, with the machine's prefill where the officer has not yet written a value."""
    prefill = _stored_reading(draft).get("prefill", {})
    values = {
        "id_number": draft.id_number or "",
        "full_name": draft.full_name or "",
        "date_of_birth": format_date(draft.date_of_birth) if draft.date_of_birth else "",
        "phone": draft.phone or "",
        "email": draft.email or "",
        "unit": str(draft.unit_id or ""),
    }
    for name, proposed in prefill.items():
        if name in values and not values[name] and proposed.get("value"):
            values[name] = proposed["value"]
    return values


def _page(
    draft: AccountRequest,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
    status: int = 200,
    notice: str | None = None,
) -> Any:
    session = db()
    officer = current_officer()
    creator = session.get(Officer, draft.officer_id) if draft.officer_id else officer
    attachment = session.get(StoredFile, draft.attachment_id) if draft.attachment_id else None
    stored = _stored_reading(draft)
    taken = session.exec(select(StationScan.id).where(StationScan.request_id == draft.id)).all()
    body = render_template(
        "accounts/edit.html",
        draft=draft,
        values=values if values is not None else _values(draft),
        errors=errors or {},
        notice=notice,
        units=_units(officer),
        creator=creator,
        attachment=attachment,
        prefill=stored.get("prefill", {}),
        warnings=all_in_vietnamese(stored.get("warnings", [])),
        document_type=stored.get("document_type"),
        has_scans=bool(draft.attachment_id or stored),
        station_after=_station_after(),
        station_taken=list(taken),
    )
    session.commit()
    return body, status


@bp.get("/requests/<int:request_id>")
@login_required
def edit(request_id: int) -> Any:
    return _page(_load(request_id))


def _save_attachment(draft: AccountRequest) -> str | None:
    """The officer's own file in `attachment`, if one was chosen: checked by content, kept, linked. An error or None."""
    upload = request.files.get("attachment")
    if upload is None or not upload.filename:
        return None
    data = upload.read()
    try:
        kind = sniff_attachment(data)
    except AttachmentError as error:
        return str(error)
    session = db()
    record = store_file(
        session,
        services().storage,
        data,
        kind="attachment",
        name=upload.filename,
        content_type=CONTENT_TYPES[kind],
        request_id=draft.id,
    )
    draft.attachment_id = record.id
    session.add(draft)
    audit(session, current_officer(), "attachment_uploaded", request=draft, detail=kind)
    session.commit()
    return None


def _validated(draft: AccountRequest, form: Mapping[str, str]) -> tuple[CitizenInfo | None, dict[str, str]]:
    officer = current_officer()
    try:
        info = validate_citizen(form, unit_ids={unit.id for unit in _units(officer) if unit.id is not None})
    except FormErrors as error:
        errors = dict(error.errors)
        info = None
    else:
        errors = {}
    if draft.attachment_id is None and "attachment" not in errors:
        errors["attachment"] = "Chưa đính kèm CCCD/CMND (quét 2 mặt, 1 tệp doc, docx hoặc pdf, tối đa 5MB)."
    return (info if not errors else None), errors


@bp.post("/requests/<int:request_id>")
@login_required
def act(request_id: int) -> Any:
    """Every button of the page posts the whole form here; `action` says which button it was."""
    draft = _load(request_id)
    officer = current_officer()
    form = {name: request.form.get(name, "") for name in (*FORM_FIELDS, "otp")}
    action = request.form.get("action", "save")
    session = db()
    errors: dict[str, str] = {}

    if draft.status in ("created", "cancelled") and action != "cancel":
        message = "Yêu cầu này đã tạo tài khoản." if draft.status == "created" else "Yêu cầu này đã hủy."
        return _page(draft, form, {"form": message}, 409)

    attachment_error = _save_attachment(draft)
    if attachment_error:
        errors["attachment"] = attachment_error
    scans = _uploaded_scans()
    if scans:
        # Without JavaScript the scans come with the form; read them here as the page's script would.
        result, status = _read_scans(draft, scans)
        if status != 200:
            errors["scans"] = result["error"]
        else:
            for name, proposed in result["fields"].items():
                if not form.get(name) and proposed["value"]:
                    form[name] = proposed["value"]

    if action == "cancel":
        if draft.status == "created":
            return _page(draft, form, {"form": "Yêu cầu này đã tạo tài khoản, không thể hủy."}, 409)
        if draft.status != "cancelled":
            cancel_request(session, draft, officer)
        flash("Đã hủy yêu cầu tạo tài khoản.")
        return redirect(url_for("accounts.index"))

    if action == "lookup":
        return _lookup(draft, form, errors)

    info, rule_errors = _validated(draft, form)
    errors.update(rule_errors)
    if info is None or errors:
        return _page(draft, form, errors, 422)
    try:
        draft = save_request(session, draft, info, officer)
        if action == "download":
            return _download(draft, info)
        if action == "send_otp":
            send_otp(session, draft, officer, services().sms, key=services().otp_key, now=services().clock())
            return _page(draft, form, notice=f"Đã gửi mã OTP tới số {mask_phone(info.phone)}.")
        if action == "create":
            code = form["otp"].strip()
            if not (len(code) == 6 and code.isdigit()):
                return _page(draft, form, {"otp": "Nhập mã OTP gồm 6 chữ số."}, 422)
            account = create_account(
                session, draft, officer, code, services().sms, key=services().otp_key, now=services().clock()
            )
            flash(f"Đã tạo tài khoản cho {account.full_name} (CMND/CCCD {account.id_number}); mật khẩu đã gửi qua SMS.")
            return redirect(url_for("accounts.index", id_number=account.id_number))
        return _page(draft, form, notice="Đã lưu.")
    except SmsFailed as error:
        session.rollback()
        if error.account_created:
            flash(str(error))
            return redirect(url_for("accounts.index"))
        return _page(draft, form, {"otp": str(error)}, 502)
    except ProcedureError as error:
        session.rollback()
        return _page(db().get(AccountRequest, request_id) or draft, form, {error.field or "form": str(error)}, 409)


def _lookup(draft: AccountRequest, form: dict[str, str], errors: dict[str, str]) -> Any:
    """[Tra cứu]: is there an account for this number already? If so, the procedure stops here."""
    session = db()
    try:
        id_number = validate_id_number(form["id_number"])
    except FormErrors as error:
        return _page(draft, form, {**errors, **error.errors}, 422)
    form["id_number"] = id_number
    existing = find_account(session, id_number)
    audit(session, current_officer(), "lookup", request=draft, detail=f"{mask_id_number(id_number)} "
          + ("found" if existing else "none"))  # fmt: skip
    draft.id_number = id_number
    session.add(draft)
    session.commit()
    if existing:
        message = f"Số CMND/CCCD {id_number} đã có tài khoản, không thực hiện tạo mới."
        return _page(draft, form, {**errors, "id_number": message}, 409)
    return _page(draft, form, errors, notice=f"Số CMND/CCCD {id_number} chưa có tài khoản; tiếp tục nhập thông tin.")


def _download(draft: AccountRequest, info: CitizenInfo) -> Any:
    """[Tải xuống]: the request form for the citizen to check and sign."""
    session = db()
    officer = session.get(Officer, draft.officer_id) if draft.officer_id else current_officer()
    unit = session.get(Unit, info.unit_id)
    pdf = render_request_form(
        RequestFormData(
            id_number=info.id_number,
            full_name=info.full_name,
            date_of_birth=info.date_of_birth,
            phone=info.phone,
            email=info.email,
            unit_name=unit.name if unit else "",
            officer_name=(officer or current_officer()).full_name,
            officer_phone=(officer or current_officer()).phone,
            created_at=draft.created_at,
        )
    )
    audit(session, current_officer(), "request_form_downloaded", request=draft)
    session.commit()
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f"attachment; filename=giay-de-nghi-tao-tai-khoan-{draft.id}.pdf"},
    )


# ---------------------------------------------------------------- scans


def _uploaded_scans() -> list[tuple[str, bytes]]:
    """The files chosen in `scans`, named; a browser sends one part with no name when none was chosen."""
    return [(upload.filename, upload.read()) for upload in request.files.getlist("scans") if upload.filename]


def _read_scans(draft: AccountRequest, files: list[tuple[str, bytes]]) -> tuple[dict[str, Any], int]:
    from intake.counter import intake_citizen
    from intake.errors import IntakeError

    session = db()
    session.commit()  # no transaction (and on SQLite no lock) may stay open across the reading
    try:
        result = intake_citizen(files)
    except IntakeError as error:
        audit(session, current_officer(), "scans_refused", request=draft, detail=type(error).__name__)
        session.commit()
        return {"error": intake_message(error)}, 422
    root = services().storage
    for name, data in files:
        store_file(session, root, data, kind="scan", name=name, content_type="application/octet-stream",
                   request_id=draft.id)  # fmt: skip
    side_files = {}
    for side, jpeg in result.side_jpegs.items():
        record = store_file(session, root, jpeg, kind="card", name=f"{side}.jpg", content_type="image/jpeg",
                            request_id=draft.id)  # fmt: skip
        side_files[side] = record.id
    pdf = store_file(session, root, result.pdf, kind="attachment", name="CCCD.pdf", content_type="application/pdf",
                     request_id=draft.id)  # fmt: skip
    reading = {
        "document_type": result.reading.document_type,
        "card": result.reading.to_json(),
        "prefill": {name: proposed.to_json() for name, proposed in result.prefill.items()},
        "warnings": result.warnings,
    }
    return _attach_reading(draft, reading, side_files, pdf, action="scans_read"), 200


def _attach_reading(
    draft: AccountRequest, reading: dict[str, Any], side_files: dict[str, int | None], pdf: StoredFile, *, action: str
) -> dict[str, Any]:
    """The card's reading and PDF onto the draft (the session holds the files' records); the page's JSON."""
    session = db()
    draft = session.get(AccountRequest, draft.id) or draft
    draft.attachment_id = pdf.id
    draft.reading = json.dumps({**reading, "side_files": side_files}, ensure_ascii=False)
    session.add(draft)
    audit(session, current_officer(), action, request=draft, detail=reading["document_type"])
    session.commit()
    prefill = reading["prefill"]
    for name, proposed in prefill.items():
        proposed["crop_url"] = url_for("accounts.crop", request_id=draft.id, field=name) if proposed["box"] else None
    return {
        "document_type": reading["document_type"],
        "fields": prefill,
        "attachment": {"name": pdf.name, "size": pdf.size, "url": url_for("accounts.attachment", request_id=draft.id)},
        "warnings": all_in_vietnamese(reading["warnings"]),
    }


@bp.post("/requests/<int:request_id>/scans")
@login_required
def scans(request_id: int) -> Any:
    """The `scans` input's files: read, straightened, merged into the attachment; the prefill comes back as JSON."""
    draft = _load(request_id)
    if draft.status in ("created", "cancelled"):
        return jsonify(error="Yêu cầu này đã đóng."), 409
    files = _uploaded_scans()
    if not files:
        return jsonify(error="Chưa chọn tệp quét nào."), 400
    body, status = _read_scans(draft, files)
    return jsonify(body), status


@bp.post("/requests/<int:request_id>/station")
@login_required
def station(request_id: int) -> Any:
    """The newest scans in the station's scan folder, read as if uploaded; else the station's newest recorded scan.

    A station whose folder is watched (`motcua watch`) has its files moved out as they are read: then the button
    takes the newest scan the watcher recorded.
    """
    from intake.counter import newest_scans

    draft = _load(request_id)
    folder = services().scan_folder
    if folder is None or not folder.is_dir():
        return jsonify(error="Máy này chưa cấu hình thư mục quét (MOTCUA_SCAN_FOLDER)."), 400
    paths = newest_scans(folder)
    if not paths:
        recorded = (
            db()
            .exec(
                select(StationScan)
                .where(StationScan.status == "ok", _visible_station_scans())
                .order_by(col(StationScan.id).desc())
                .limit(1)
            )
            .first()
        )
        if recorded is not None:
            body, status = _take_station_scan(draft, recorded)
            return jsonify(body), status
        return jsonify(error=f"Thư mục quét {folder} chưa có bản quét nào."), 404
    body, status = _read_scans(draft, [(path.name, path.read_bytes()) for path in paths])
    return jsonify(body), status


# ---------------------------------------------------------------- the station's scans, as they arrive
#
# `motcua watch` (the station's scan folder) and [Quét] (its scanner) record each scan, already read, in
# `station_scan`. The page polls `station_latest` and takes a scan with `take_station` (see counter.js for when it
# does so by itself): taking one costs no reading, only records.

# A counter page opened just after the scanning still offers the scans of the last minutes.
STATION_RECENT = timedelta(minutes=2)
STATION_FEED_LIMIT = 20


def _visible_station_scans() -> ColumnElement[bool]:
    """Scans from a station of the officer's unit, or of no unit; an administrator sees every station's."""
    officer = current_officer()
    if officer.role == "administrator":
        return true()
    return or_(col(StationScan.unit_id).is_(None), col(StationScan.unit_id) == officer.unit_id)


def _station_after() -> int:
    """The page's starting point: the scans recorded before the last few minutes are not offered."""
    older = db().exec(select(func.max(StationScan.id)).where(StationScan.created_at < utcnow() - STATION_RECENT))
    return int(older.one() or 0)


def _station_json(row: StationScan) -> dict[str, Any]:
    sides = row.sides.split(",") if row.sides else []
    prefill = json.loads(row.reading or "{}").get("prefill", {})
    return {
        "id": row.id,
        "name": row.name,
        "at": row.created_at.astimezone(LOCAL_ZONE).strftime("%H:%M:%S"),
        "status": row.status,
        "error": row.error,
        "sides": sides,
        "complete": len(sides) >= 2 or row.partner_id is not None,
        "partner": row.partner_id,
        "document_type": row.document_type,
        "id_number": (prefill.get("id_number") or {}).get("value"),
        "full_name": (prefill.get("full_name") or {}).get("value"),
        "taken_by": row.request_id,
    }


@bp.get("/station/latest")
@login_required
def station_latest() -> Any:
    """The station scans recorded after `after` (an id), oldest first: what the counter page polls for."""
    after = request.args.get("after", "0")
    after_id = int(after) if after.isdigit() else 0
    rows = (
        db()
        .exec(
            select(StationScan)
            .where(col(StationScan.id) > after_id, _visible_station_scans())
            .order_by(col(StationScan.id))
            .limit(STATION_FEED_LIMIT)
        )
        .all()
    )
    db().commit()
    return jsonify(
        scans=[_station_json(row) for row in rows], last=max((row.id or 0 for row in rows), default=after_id)
    )


def _take_station_scan(draft: AccountRequest, row: StationScan) -> tuple[dict[str, Any], int]:
    """The station's reading, scans, card sides and PDF become the draft's, as an upload's would."""
    if row.status != "ok" or not row.reading:
        return {"error": row.error or "Bản quét này không dùng được."}, 409
    session = db()
    reading = json.loads(row.reading)
    files = reading.pop("files")

    def record(ref: dict[str, Any], kind: str) -> StoredFile:
        stored = StoredFile(kind=kind, request_id=draft.id, path=ref["path"], name=ref["name"],
                            content_type=ref["content_type"], size=ref["size"], sha256=ref["sha256"])  # fmt: skip
        session.add(stored)
        session.flush()
        return stored

    for ref in files["scans"]:
        record(ref, "scan")
    side_files = {side: record(ref, "card").id for side, ref in files["cards"].items()}
    pdf = record(files["attachment"], "attachment")
    taken = [row.id] + ([row.partner_id] if row.partner_id else [])
    for scan in session.exec(select(StationScan).where(col(StationScan.id).in_(taken))).all():
        scan.request_id = draft.id
        session.add(scan)
    body = _attach_reading(draft, {**reading, "station_scan": row.id}, side_files, pdf, action="station_scan_taken")
    return {**body, "station_scan": row.id, "partner": row.partner_id}, 200


@bp.post("/requests/<int:request_id>/station-scans")
@login_required
def take_station(request_id: int) -> Any:
    """One station scan (with the earlier scan it completes) into this request."""
    draft = _load(request_id)
    if draft.status in ("created", "cancelled"):
        return jsonify(error="Yêu cầu này đã đóng."), 409
    scan_id = request.form.get("scan_id", "")
    row = (
        db()
        .exec(
            select(StationScan).where(
                StationScan.id == (int(scan_id) if scan_id.isdigit() else 0), _visible_station_scans()
            )
        )
        .first()
    )
    if row is None:
        return jsonify(error="Không có bản quét này."), 404
    body, status = _take_station_scan(draft, row)
    return jsonify(body), status


def _scan_jobs() -> ScanJobs:
    """This application's [Quét] scans (one web process serves one station's scanner)."""
    jobs: ScanJobs = current_app.extensions.setdefault("motcua.scan_jobs", ScanJobs())
    return jobs


@bp.post("/requests/<int:request_id>/scan")
@login_required
def scan_now(request_id: int) -> Any:
    """[Quét]: the station's flatbed scans in the background (10 to 40 s) and the page is answered at once (202) with
    the scan's id, whose state it polls (`scan_state`) until the scan is recorded, then takes it. One scan at a time
    per station: a press while one runs is refused (409), whoever pressed."""
    from intake.scanner import ScannerError, scanimage_version
    from intake.watch import default_station_name

    draft = _load(request_id)
    if draft.status in ("created", "cancelled"):
        return jsonify(error="Yêu cầu này đã đóng."), 409
    device = current_app.config.get("SCANNER")
    if not device:
        return jsonify(error="Máy này chưa cấu hình máy quét (MOTCUA_SCANNER)."), 400
    try:
        scanimage_version()  # a machine without SANE is told now, not after a wait
    except ScannerError as error:
        return jsonify(error=error.vietnamese), 503
    officer = current_officer()
    station = current_app.config.get("STATION") or default_station_name()
    work = partial(scan_and_record, device=device, engine=services().engine, storage=services().storage,
                   station=station, unit_id=officer.unit_id)  # fmt: skip
    db().commit()  # nothing held while the scanner works: the scan has its own sessions
    job, started = _scan_jobs().start(station, request_id, officer.id, work)
    url = url_for("accounts.scan_state", request_id=request_id, job_id=job.id)
    if not started:
        message = f"Máy quét đang quét (bắt đầu lúc {job.to_json()['started_at']}). Chờ quét xong rồi bấm [Quét] lại."
        # This request's own scan (the page reloaded meanwhile): the page may follow it; another's is not its business.
        return jsonify(error=message, status_url=url if job.request_id == request_id else None), 409
    return jsonify(job.to_json() | {"status_url": url}), 202, {"Location": url}


@bp.get("/requests/<int:request_id>/scan/<job_id>")
@login_required
def scan_state(request_id: int, job_id: str) -> Any:
    """Where a [Quét] scan is: scanning, reading, done (`station_scan` is then the scan to take) or failed (`error`)."""
    _load(request_id)
    job = _scan_jobs().get(job_id)
    db().commit()
    if job is None or job.request_id != request_id:
        return jsonify(error="Không còn thông tin về lần quét này; xem các bản quét của quầy bên dưới."), 404
    return jsonify(job.to_json())


@bp.get("/requests/<int:request_id>/attachment")
@login_required
def attachment(request_id: int) -> Any:
    draft = _load(request_id)
    record = db().get(StoredFile, draft.attachment_id) if draft.attachment_id else None
    return stored_response(draft.attachment_id, filename=record.name if record else None)


@bp.get("/requests/<int:request_id>/crop/<field>")
@login_required
def crop(request_id: int, field: str) -> Any:
    """The part of the card a field was read from, shown beside the field."""
    draft = _load(request_id)
    proposed = _stored_reading(draft).get("prefill", {}).get(field) or {}
    return crop_response(draft, proposed.get("side"), proposed.get("box"))
