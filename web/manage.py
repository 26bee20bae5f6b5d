"""Administration commands: the database, units, officers, the demo data, and serving the application."""

from __future__ import annotations

import secrets
import sys
from typing import Any

import click
from sqlmodel import Session, select

from forms.db import upgrade
from forms.models import ROLES, Officer, Unit
from forms.phone import PhoneError, normalise_phone
from forms.security import hash_password
from web.batch_cli import batch, worker
from web.station_cli import scan, watch

DEMO_UNIT = ("P5", "Bộ phận một cửa Phường 5")
DEMO_OFFICER = ("canbo", "Nguyễn Thị Mai", "0905123456")


def _app() -> Any:
    from web.app import create_app

    return create_app()


def _session(app: Any) -> Session:
    return Session(app.extensions["motcua"].engine, expire_on_commit=False)


def _migrated(app: Any) -> None:
    upgrade(app.extensions["motcua"].engine)


@click.group("db")
def db_group() -> None:
    """The database (MOTCUA_DATABASE_URL; SQLite in the instance folder by default)."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the tables to the newest revision."""
    app = _app()
    _migrated(app)
    click.echo(f"database up to date: {app.extensions['motcua'].engine.url.render_as_string(hide_password=True)}")


@click.group("unit")
def unit_group() -> None:
    """Units: Trung tâm phục vụ hành chính công, Bộ phận một cửa."""


@unit_group.command("add")
@click.argument("code")
@click.argument("name")
def unit_add(code: str, name: str) -> None:
    """Add a unit with a short CODE and its NAME."""
    app = _app()
    with _session(app) as session:
        if session.exec(select(Unit).where(Unit.code == code)).first():
            click.echo(f"motcua: unit {code} exists already", err=True)
            sys.exit(2)
        session.add(Unit(code=code, name=name))
        session.commit()
    click.echo(f"unit {code} added: {name}")


@click.group("officer")
def officer_group() -> None:
    """People who log in: officers, reviewers, administrators."""


@officer_group.command("add")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="Full name, as shown on the request form.")
@click.option("--phone", required=True, help="The officer's mobile number.")
@click.option("--unit", "unit_code", required=True, help="The unit's code.")
@click.option("--role", type=click.Choice(ROLES), default="officer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else one is made).")
def officer_add(username: str, full_name: str, phone: str, unit_code: str, role: str, password_stdin: bool) -> None:
    """Add an officer who logs in as USERNAME."""
    app = _app()
    try:
        phone = normalise_phone(phone)
    except PhoneError as error:
        raise click.BadParameter(str(error), param_hint="--phone") from error
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 10:
            raise click.BadParameter("at least 10 characters", param_hint="--password-stdin")
        made = False
    else:
        password, made = secrets.token_urlsafe(12), True
    with _session(app) as session:
        unit = session.exec(select(Unit).where(Unit.code == unit_code)).first()
        if unit is None:
            raise click.BadParameter(f"no unit with code {unit_code}", param_hint="--unit")
        if session.exec(select(Officer).where(Officer.username == username)).first():
            click.echo(f"motcua: officer {username} exists already", err=True)
            sys.exit(2)
        session.add(
            Officer(
                username=username,
                full_name=full_name,
                phone=phone,
                unit_id=unit.id or 0,
                role=role,
                password_hash=hash_password(password),
            )
        )
        session.commit()
    click.echo(f"officer {username} added ({role}, {unit.name})")
    if made:
        click.echo(f"password: {password}")


def seed_demo(app: Any) -> str:
    """The demo unit and officer; the officer gets a fresh password each time, which is returned."""
    code, unit_name = DEMO_UNIT
    username, full_name, phone = DEMO_OFFICER
    password = secrets.token_urlsafe(9)
    with _session(app) as session:
        unit = session.exec(select(Unit).where(Unit.code == code)).first()
        if unit is None:
            unit = Unit(code=code, name=unit_name)
            session.add(unit)
            session.flush()
        officer = session.exec(select(Officer).where(Officer.username == username)).first()
        if officer is None:
            officer = Officer(username=username, full_name=full_name, phone=phone, unit_id=unit.id or 0,
                              password_hash="")  # fmt: skip
        officer.password_hash = hash_password(password)
        officer.active = True
        session.add(officer)
        session.commit()
    return password


@click.command("demo")
def demo() -> None:
    """The demo unit "Bộ phận một cửa Phường 5" and its officer; prints the credentials."""
    app = _app()
    _migrated(app)
    password = seed_demo(app)
    click.echo(f"demo unit: {DEMO_UNIT[1]}")
    click.echo(f"log in as: {DEMO_OFFICER[0]} / {password}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--threads", default=8, show_default=True)
def serve(host: str, port: int, threads: int) -> None:
    """Run the web application (waitress), after bringing the database up to date."""
    from waitress import serve as waitress_serve

    app = _app()
    _migrated(app)
    click.echo(f"motcua at http://{host}:{port}/  (Ctrl+C stops)")
    waitress_serve(app, host=host, port=port, threads=threads)


COMMANDS = (db_group, unit_group, officer_group, demo, serve, batch, watch, scan, worker)
