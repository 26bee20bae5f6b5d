"""The administration commands: database upgrade, units, officers, the demo data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import Session, select

from forms.db import current_revision, make_engine
from forms.models import Officer, Unit
from forms.security import check_password
from web.cli import main


@pytest.fixture
def env(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MOTCUA_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("MOTCUA_DATABASE_URL", database_url)
    return database_url


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), input=stdin)
    return result.exit_code, result.output


def test_db_upgrade_reaches_the_newest_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    monkeypatch.setenv("MOTCUA_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.setenv("MOTCUA_DATABASE_URL", url)
    engine = make_engine(url)
    assert current_revision(engine) is None
    code, output = run("db", "upgrade")
    assert code == 0, output
    assert current_revision(engine) is not None
    assert run("db", "upgrade")[0] == 0  # a second upgrade changes nothing and does not fail
    engine.dispose()


def test_units_and_officers_are_added_and_the_officer_can_log_in(env: str) -> None:
    assert run("unit", "add", "P5", "Bộ phận một cửa Phường 5")[0] == 0
    code, output = run("unit", "add", "P5", "again")
    assert code == 2 and "exists" in output
    code, output = run(
        "officer", "add", "mai", "--name", "Nguyễn Thị Mai", "--phone", "+84 905 123 456", "--unit", "P5",
        "--role", "reviewer", "--password-stdin", stdin="mot-mat-khau-dai\n",
    )  # fmt: skip
    assert code == 0, output
    assert "mot-mat-khau-dai" not in output
    code, output = run("officer", "add", "lan", "--name", "Lan", "--phone", "0905123456", "--unit", "XX")
    assert code == 2 and "no unit" in output
    code, output = run("officer", "add", "lan", "--name", "Lan", "--phone", "024 3825 1234", "--unit", "P5")
    assert code == 2 and "--phone" in output
    engine = make_engine(env)
    with Session(engine) as session:
        officer = session.exec(select(Officer).where(Officer.username == "mai")).one()
        unit = session.exec(select(Unit).where(Unit.code == "P5")).one()
    engine.dispose()
    assert officer.unit_id == unit.id and officer.role == "reviewer" and officer.phone == "0905123456"
    assert check_password(officer.password_hash, "mot-mat-khau-dai")


def test_demo_prints_working_credentials_each_time(env: str) -> None:
    from web.app import create_app

    code, output = run("demo")
    assert code == 0, output
    assert "Bộ phận một cửa Phường 5" in output
    username, password = re.search(r"log in as: (\S+) / (\S+)", output).groups()  # type: ignore[union-attr]
    again = run("demo")[1]
    new_password = re.search(r"log in as: \S+ / (\S+)", again).group(1)  # type: ignore[union-attr]
    assert new_password != password
    client = create_app({"TESTING": True}).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    old = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert old.status_code == 401
    new = client.post("/login", data={"username": username, "password": new_password, "csrf_token": token})
    assert new.status_code == 302
