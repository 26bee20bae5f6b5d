"""Shared fixtures: the committed sample scans and their truth."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "scans"


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_cases() -> list[dict[str, Any]]:
    from intake.synth.measure import load_truth

    return load_truth(SAMPLES)


# ---------------------------------------------------------------- databases
#
# The web and forms tests run against SQLite and, where the machine has it, PostgreSQL. In CI (CI=true) a missing
# PostgreSQL fails the run instead of skipping it: the suite must have run against both.

POSTGRES_ADMIN_URL = os.environ.get("MOTCUA_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _postgres_unavailable() -> str | None:
    try:
        import psycopg

        url = POSTGRES_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=3):
            return None
    except Exception as error:  # any failure to connect means "not here"; the reason is shown
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {error}"


@pytest.fixture(scope="session")
def postgres_url() -> Any:
    """A throwaway PostgreSQL database for this test process, migrated once, dropped at the end."""
    reason = _postgres_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    from sqlalchemy import create_engine, text

    from forms.db import make_engine, upgrade

    name = f"motcua_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> str:
    """The session's PostgreSQL database with every table emptied, as a test that shares it across processes
    (Celery workers) or with other tests of this process needs it."""
    from sqlalchemy import text
    from sqlmodel import SQLModel

    import forms.models  # (registers the tables, as the next line does the queue's)
    import forms.review  # noqa: F401
    from forms.db import make_engine

    engine = make_engine(postgres_url)
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """An empty, migrated database: a new SQLite file, or the session's PostgreSQL database emptied."""
    from forms.db import make_engine, upgrade

    if request.param == "postgresql":
        return request.getfixturevalue("empty_postgres_url")
    url = f"sqlite:///{tmp_path / 'motcua.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


# ---------------------------------------------------------------- Redis
#
# The Celery tests run against the machine's Redis, as the database tests do against its PostgreSQL: skipped where
# it is missing, a failure in CI. Each test claims a database of its own (1 to 15) with a key, so that tests running
# in parallel never see one another's queues; never point MOTCUA_TEST_REDIS at a Redis whose data you keep.

REDIS_TEST_URL = os.environ.get("MOTCUA_TEST_REDIS", "redis://127.0.0.1:6379")
_REDIS_CLAIM = "motcua-test:claim"


def _redis_unavailable() -> str | None:
    try:
        import redis

        client = redis.Redis.from_url(f"{REDIS_TEST_URL}/0", socket_connect_timeout=3)
        client.ping()
        client.close()
        return None
    except Exception as error:  # any failure to connect means "not here"; the reason is shown
        return f"Redis not reachable at {REDIS_TEST_URL}: {error}"


@pytest.fixture
def redis_url() -> Any:
    """The URL of a Redis database for this test alone, emptied before and after."""
    reason = _redis_unavailable()
    if reason:
        if IN_CI:
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    import redis

    claim = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}:{os.getpid()}"
    for number in range(1, 16):
        client = redis.Redis.from_url(f"{REDIS_TEST_URL}/{number}")
        # An hour's claim: a test process killed without its teardown frees the database in time.
        if client.set(_REDIS_CLAIM, claim, nx=True, ex=3600):
            break
        client.close()
    else:
        pytest.fail(f"every database 1-15 of the Redis at {REDIS_TEST_URL} is claimed by a test")

    def empty() -> None:
        for key in client.scan_iter(count=1000):
            if key != _REDIS_CLAIM.encode():
                client.delete(key)

    empty()
    yield f"{REDIS_TEST_URL}/{number}"
    empty()
    client.delete(_REDIS_CLAIM)
    client.close()
