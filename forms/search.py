"""The list of created accounts: the seed's filters, one page at a time, and the rows for export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from forms.models import CitizenAccount, Officer, Unit

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


@dataclass(frozen=True)
class AccountFilters:
    """Tên công dân, Số điện thoại, CMND/CCCD, Cán bộ tạo, Đơn vị tạo, Từ ngày, Đến ngày."""

    full_name: str = ""
    phone: str = ""
    id_number: str = ""
    officer: str = ""
    unit: int | None = None
    date_from: date | None = None
    date_to: date | None = None


@dataclass(frozen=True)
class AccountRow:
    """One line of the list."""

    id: int
    full_name: str
    id_number: str
    phone: str
    email: str | None
    date_of_birth: date
    officer_name: str
    unit_name: str
    created_at: datetime
    request_id: int | None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _statement(filters: AccountFilters) -> Any:
    statement = (
        select(CitizenAccount, Officer.full_name, Unit.name)
        .join(Officer, col(Officer.id) == col(CitizenAccount.officer_id))
        .join(Unit, col(Unit.id) == col(CitizenAccount.unit_id))
    )
    if filters.full_name.strip():
        # Names are stored upper case; the officer may type them any way.
        statement = statement.where(
            col(CitizenAccount.full_name).like(_like(filters.full_name.strip().upper()), escape="\\")
        )
    if filters.phone.strip():
        digits = "".join(ch for ch in filters.phone if ch.isdigit())
        if filters.phone.strip().startswith("+84"):
            digits = "0" + digits[2:]  # stored numbers are national: 0xxxxxxxxx
        statement = statement.where(col(CitizenAccount.phone).like(_like(digits), escape="\\"))
    if filters.id_number.strip():
        digits = "".join(ch for ch in filters.id_number if ch.isdigit())
        statement = statement.where(col(CitizenAccount.id_number).like(_like(digits), escape="\\"))
    if filters.officer.strip():
        text = _like(filters.officer.strip())
        statement = statement.where(
            or_(col(Officer.full_name).ilike(text, escape="\\"), col(Officer.username).ilike(text, escape="\\"))
        )
    if filters.unit is not None:
        statement = statement.where(CitizenAccount.unit_id == filters.unit)
    # Từ ngày / Đến ngày are the officer's calendar days, in Vietnam's time.
    if filters.date_from is not None:
        start = datetime.combine(filters.date_from, time(), LOCAL_ZONE)
        statement = statement.where(col(CitizenAccount.created_at) >= start)
    if filters.date_to is not None:
        end = datetime.combine(filters.date_to + timedelta(days=1), time(), LOCAL_ZONE)
        statement = statement.where(col(CitizenAccount.created_at) < end)
    return statement


def _row(account: CitizenAccount, officer_name: str, unit_name: str) -> AccountRow:
    return AccountRow(
        id=account.id or 0,
        full_name=account.full_name,
        id_number=account.id_number,
        phone=account.phone,
        email=account.email,
        date_of_birth=account.date_of_birth,
        officer_name=officer_name,
        unit_name=unit_name,
        created_at=account.created_at.astimezone(LOCAL_ZONE),
        request_id=account.request_id,
    )


def search_accounts(
    session: Session, filters: AccountFilters, *, page: int = 1, per_page: int = 20
) -> tuple[list[AccountRow], int]:
    """One page of matching accounts, newest first, and how many match in all."""
    statement = _statement(filters)
    total = session.exec(select(func.count()).select_from(statement.subquery())).one()
    page = max(1, page)
    rows = session.exec(
        statement.order_by(col(CitizenAccount.created_at).desc(), col(CitizenAccount.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return [_row(*row) for row in rows], int(total)


def all_accounts(session: Session, filters: AccountFilters, *, chunk: int = 1000) -> Iterator[AccountRow]:
    """Every matching account, oldest first, fetched a chunk at a time for export."""
    statement = _statement(filters).order_by(col(CitizenAccount.id))
    last_id = 0
    while True:
        rows = session.exec(statement.where(col(CitizenAccount.id) > last_id).limit(chunk)).all()
        if not rows:
            return
        for row in rows:
            yield _row(*row)
        last_id = rows[-1][0].id or 0
