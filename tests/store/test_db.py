"""Connections survive the server dropping them (PostgreSQL: ping after idle, not per checkout)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Connection, text
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


def test_a_write_whose_connection_was_dropped_before_the_commit_runs_once_more(
    pg: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(pg)
    _kill(postgres_url, dropped)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)  # the dead connection is handed out
    runs: list[int] = []

    def work(conn: Connection) -> int:
        runs.append(1)
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    assert pg.write_retrying(work) != dropped
    assert len(runs) == 2  # the first run met the dropped connection and was rolled back


def test_a_write_that_fails_for_another_reason_is_not_run_again(pg: Database) -> None:
    runs: list[int] = []

    def work(conn: Connection) -> None:
        runs.append(1)
        conn.execute(text("SELECT 1 / 0"))

    with pytest.raises(DBAPIError):
        pg.write_retrying(work)
    assert runs == [1]


def test_a_connection_returned_inside_a_transaction_is_rolled_back(pg: Database) -> None:
    # The pool's reset rolls back only a connection with a transaction open (`_rollback_if_open`):
    # one handed back mid-transaction must come out of the pool idle, its work undone and its
    # locks released.
    raw = pg.engine.raw_connection()
    raw.cursor().execute("CREATE TEMP TABLE IF NOT EXISTS held (n int)")
    raw.commit()
    raw.cursor().execute("INSERT INTO held VALUES (1)")
    raw.close()  # back to the pool with the insert uncommitted
    with pg.write() as conn:  # pool_size=1: the same session
        assert conn.execute(text("SELECT count(*) FROM held")).scalar_one() == 0
    with pg.read() as conn:
        status = conn.connection.dbapi_connection.info.transaction_status  # type: ignore[union-attr]
        assert status == psycopg.pq.TransactionStatus.IDLE
