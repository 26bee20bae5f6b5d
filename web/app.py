"""The Flask application factory: configuration from MOTCUA_* variables, database, login, CSRF, blueprints."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, g, redirect, url_for
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import Engine
from sqlmodel import Session

from forms.db import make_engine
from forms.models import Officer, utcnow
from forms.sms import SmsGateway, gateway_from_config

csrf = CSRFProtect()
login_manager = LoginManager()

# Uploads: a few scans of a card. The intake refuses big files itself; this stops a runaway request early.
MAX_UPLOAD_BYTES = 64 * 1024 * 1024


@dataclass
class Services:
    """What the views need beyond Flask: the database, the SMS gateway, the storage folder, the clock."""

    engine: Engine
    sms: SmsGateway
    storage: Path
    scan_folder: Path | None
    otp_key: bytes
    clock: Callable[[], datetime]


def _env_config(instance: Path) -> dict[str, Any]:
    env = os.environ
    return {
        "DATABASE_URL": env.get("MOTCUA_DATABASE_URL", f"sqlite:///{instance / 'motcua.db'}"),
        "STORAGE": env.get("MOTCUA_STORAGE", str(instance / "storage")),
        "SECRET_KEY": env.get("MOTCUA_SECRET_KEY"),
        "SMS_GATEWAY": env.get("MOTCUA_SMS", "outbox"),
        "SMS_OUTBOX": env.get("MOTCUA_SMS_OUTBOX", str(instance / "sms-outbox.jsonl")),
        "SMS_URL": env.get("MOTCUA_SMS_URL"),
        "SMS_TOKEN": env.get("MOTCUA_SMS_TOKEN"),
        "SCAN_FOLDER": env.get("MOTCUA_SCAN_FOLDER"),
        "SCANNER": env.get("MOTCUA_SCANNER"),  # a SANE device: the counter page's [Quét]
        "STATION": env.get("MOTCUA_STATION"),  # this machine's station name (default: its host name)
        "SESSION_COOKIE_SECURE": env.get("MOTCUA_SECURE_COOKIES", "") in ("1", "true", "yes"),
    }


def _secret_key(instance: Path) -> str:
    # Without MOTCUA_SECRET_KEY a key is made once and kept in the instance folder, so sessions and OTP hashes
    # survive a restart; it is readable by the service's user only.
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The application; `config` overrides what the environment says (tests pass their database and folders)."""
    app = Flask(__name__, instance_path=os.environ.get("MOTCUA_INSTANCE") or None)
    instance = Path(app.instance_path)
    app.config.update(_env_config(instance))
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
        WTF_CSRF_TIME_LIMIT=None,  # a counter page stays open all day; the token lives as long as the session
    )
    if config:
        app.config.update(config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(instance)
    instance.mkdir(parents=True, exist_ok=True, mode=0o700)

    engine = make_engine(app.config["DATABASE_URL"])
    scan_folder = app.config.get("SCAN_FOLDER")
    app.extensions["motcua"] = Services(
        engine=engine,
        sms=gateway_from_config(
            app.config["SMS_GATEWAY"],
            outbox=Path(app.config["SMS_OUTBOX"]),
            url=app.config.get("SMS_URL"),
            token=app.config.get("SMS_TOKEN"),
        ),
        storage=Path(app.config["STORAGE"]),
        scan_folder=Path(scan_folder) if scan_folder else None,
        otp_key=str(app.config["SECRET_KEY"]).encode(),
        clock=app.config.get("CLOCK") or utcnow,
    )

    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Hãy đăng nhập để tiếp tục."

    from web import accounts, auth, filters, review

    app.register_blueprint(auth.bp)
    app.register_blueprint(accounts.bp)
    app.register_blueprint(review.bp)
    filters.register(app)

    @app.teardown_appcontext
    def _close_session(_error: BaseException | None) -> None:
        session = g.pop("db", None)
        if session is not None:
            session.close()

    @app.get("/")
    def home() -> Any:
        return redirect(url_for("accounts.index"))

    return app


def services() -> Services:
    """The running application's services."""
    from flask import current_app

    found: Services = current_app.extensions["motcua"]
    return found


def db() -> Session:
    """This request's database session, closed when the request ends."""
    if "db" not in g:
        g.db = Session(services().engine, expire_on_commit=False)
    session: Session = g.db
    return session


@login_manager.user_loader
def _load_officer(officer_id: str) -> Any:
    from web.auth import LoggedIn

    session = db()
    officer = session.get(Officer, int(officer_id))
    # End the read at once: on SQLite an open transaction holds the database's write lock (forms.db).
    session.commit()
    if officer is None or not officer.active:
        return None
    return LoggedIn(officer)
