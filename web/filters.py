"""Template filters: dates and times as the seed writes them, in Vietnam's time."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Flask

from forms.rules import format_date

LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")


def day(value: date | None) -> str:
    return format_date(value) if value else ""


def moment(value: datetime | None) -> str:
    return value.astimezone(LOCAL_ZONE).strftime("%d/%m/%Y %H:%M") if value else ""


def register(app: Flask) -> None:
    app.add_template_filter(day, "day")
    app.add_template_filter(moment, "moment")
