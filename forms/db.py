"""The database: engines for SQLite and PostgreSQL, and the Alembic migrations that build the tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite is made to take its write lock at BEGIN (see below)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _serialise_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _serialise_sqlite(engine: Engine) -> None:
    # pysqlite opens transactions lazily, at the first write, so two requests can both read "no account yet" and
    # then both write. BEGIN IMMEDIATE takes the write lock at the start, which makes each transaction see the
    # state it then changes, as SELECT ... FOR UPDATE does on PostgreSQL. (SQLAlchemy's documented recipe.)
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    """Alembic's configuration, built here so that no alembic.ini has to be found on disk."""
    # Imported here, not with the module: every process that opens the database imports this module (each batch
    # worker, each command), and only migrating needs Alembic, a quarter of a second of CPU to import.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database's tables up to `revision` (the newest by default)."""
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database stands at, None before the first upgrade."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
