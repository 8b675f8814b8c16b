"""Fixtures: a real SQLite file and a real PostgreSQL database, migrated through the same code.

PostgreSQL: `CALLPLANE_TEST_POSTGRES_URL` (default: the local server) names a maintenance
database; each test session creates its own database there — UTF8 with the C.UTF-8 locale
(a `C` ctype indexes no Hangul in pg_trgm) — and drops it at the end. When no server answers,
PostgreSQL tests are skipped and the run says so plainly; under `CI=true` that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from callplane.api.app import create_app
from callplane.api.dialects.webhooks import register as register_webhook_formats
from callplane.config import Settings
from callplane.engine.clock import FixedClock, SystemClock
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from callplane.store.schema import metadata
from tests.factories import Tenant, make_tenant

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
_pg_problem: list[str] = []

# Tests that are not about rate limits send many requests fast with one key and from one address
# (fuzzing, the vendors' SDKs, servers started as processes, which inherit this environment):
# they get limits no test reaches. tests/api/test_ratelimit.py passes its own to Settings.
for _name in ("RATE_LIMIT_PER_KEY", "RATE_LIMIT_PER_ORGANIZATION", "RATE_LIMIT_AUTH_FAILURES"):
    os.environ.setdefault(f"CALLPLANE_{_name}", "1000000/second")


@pytest.fixture(autouse=True, scope="session")
def _webhook_formats() -> None:
    """Engine tests emit webhook events without an app or CLI: register the dialects' formats,
    as every entry point does."""
    register_webhook_formats()


def _postgres_admin_url() -> str:
    return os.environ.get("CALLPLANE_TEST_POSTGRES_URL", DEFAULT_PG)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    admin_url = _postgres_admin_url()
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"no PostgreSQL at {admin_url} ({str(exc).strip().splitlines()[0]})"
        _pg_problem.append(reason)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    try:
        yield from _scratch_database(admin, admin_url)
    finally:
        admin.close()


def _scratch_database(admin: psycopg.Connection[tuple[object, ...]], admin_url: str) -> Iterator[str]:
    """A new, empty database on the server for as long as the generator runs."""
    name = f"callplane_test_{uuid.uuid4().hex[:10]}"
    admin.execute(
        f"CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0"
    )
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def empty_postgres_url(postgres_url: str) -> Iterator[str]:
    """An unmigrated PostgreSQL database of its own (for migration tests)."""
    with psycopg.connect(_postgres_admin_url(), autocommit=True) as admin:
        yield from _scratch_database(admin, _postgres_admin_url())


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The local Redis (`CALLPLANE_TEST_REDIS_URL`); skipped when none answers, failed under CI=true."""
    url = os.environ.get("CALLPLANE_TEST_REDIS_URL", DEFAULT_REDIS)
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"no Redis at {url} ({exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def postgres_db(postgres_url: str) -> Iterator[Database]:
    db = Database(postgres_url)
    upgrade(db)
    yield db
    db.dispose()


def _truncate(db: Database) -> None:
    with db.write() as conn:
        names = [t.name for t in reversed(metadata.sorted_tables)]
        if db.is_postgres:
            conn.execute(text("TRUNCATE " + ", ".join(names)))
        else:
            for name in names:
                conn.execute(text(f"DELETE FROM {name}"))


def _sqlite(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'callplane.db'}")
    upgrade(db)
    return db


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: a fresh SQLite file, or the session's PostgreSQL database."""
    if request.param == "sqlite":
        database = _sqlite(tmp_path)
        yield database
        database.dispose()
    else:
        database = request.getfixturevalue("postgres_db")
        _truncate(database)
        yield database


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = _sqlite(tmp_path)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(1_767_225_600_000)  # 2026-01-01 00:00 UTC


@pytest.fixture
def tenant(db: Database) -> Tenant:
    return make_tenant(db, SystemClock().now_ms())


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db.url), db=db)
    with TestClient(app) as test_client:
        yield test_client


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _pg_problem:
        terminalreporter.write_line(
            f"PostgreSQL tests were SKIPPED: {_pg_problem[0]}. Set CALLPLANE_TEST_POSTGRES_URL to run them.",
            yellow=True,
            bold=True,
        )
