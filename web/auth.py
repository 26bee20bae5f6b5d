"""Logging in and out: officers, reviewers and administrators, by username and password."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import UserMixin, current_user, login_required, login_user, logout_user
from sqlmodel import select

from forms.accounts import audit
from forms.models import Officer
from forms.security import check_password
from web.app import db

bp = Blueprint("auth", __name__)


class LoggedIn(UserMixin):
    """The logged-in officer, as Flask-Login wants it."""

    def __init__(self, officer: Officer) -> None:
        self.officer = officer

    def get_id(self) -> str:
        return str(self.officer.id)

    @property
    def role(self) -> str:
        return self.officer.role


def current_officer() -> Officer:
    """The officer behind this request (views are @login_required)."""
    officer: Officer = current_user.officer
    return officer


def _safe_next(target: str | None) -> str:
    # Only a path on this site: an absolute URL in ?next= would make the login page an open redirect.
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("accounts.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("accounts.index"))
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        session = db()
        officer = session.exec(select(Officer).where(Officer.username == username)).first()
        if officer is not None and officer.active and check_password(officer.password_hash, password):
            login_user(LoggedIn(officer))
            audit(session, officer, "login")
            session.commit()
            return redirect(_safe_next(request.args.get("next")))
        # One message for both cases: the page must not tell which usernames exist.
        error = "Tên đăng nhập hoặc mật khẩu không đúng."
        session.commit()
    return render_template("auth/login.html", error=error, username=username), 401 if error else 200


@bp.post("/logout")
@login_required
def logout() -> Any:
    session = db()
    audit(session, current_officer(), "logout")
    session.commit()
    logout_user()
    flash("Đã đăng xuất.")
    return redirect(url_for("auth.login"))
