"""Connections survive the server dropping them (PostgreSQL: ping after idle, not per checkout)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from callplane.store import db as db_module
from callplane.store.db import Database

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    database = Database(postgres_url, pool_size=1)
    yield database
    database.dispose()


def _backend_pid(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(postgres_url: str, pid: int) -> None:
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(pg)
    _kill(postgres_url, dropped)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection counts as idle

    assert _backend_pid(pg) != dropped  # no error: the ping failed and the pool reconnected


def test_a_recently_used_connection_is_not_pinged_and_fails_once_then_recovers(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(pg)
    _kill(postgres_url, dropped)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)

    with pytest.raises(DBAPIError) as failed:
        _backend_pid(pg)
    assert failed.value.connection_invalidated
    assert _backend_pid(pg) != dropped
