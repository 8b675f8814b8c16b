"""A database blip never answers 500 (issue 14, defect 7).

A chaos run terminating PostgreSQL's backends saw `POST /v3/calls` answer 500 after the create's
single retry. Creates are now retried a few times before the commit (`Database.write_retrying`),
and a database still unreachable is a 503 with `Retry-After` in the dialect's own error shape;
either way an Idempotency-Key makes the client's retry create the call once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.engine.clock import SystemClock
from callplane.store import db as db_module
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from callplane.store.schema import calls
from tests.api.commit_cut import CommitCut
from tests.conftest import _postgres_admin_url, _truncate
from tests.factories import Tenant, call_body, make_tenant

CREATES = 12


def _terminate_backends(db: Database) -> int:
    """End every server process of the test database (as `bench/chaos.py` does); how many."""
    with psycopg.connect(_postgres_admin_url(), autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (make_url(db.url).database,),
        ).fetchall()
    return len(rows)


def _stored_calls(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(calls)).scalar_one())


@pytest.fixture
def pg(postgres_db: Database) -> Iterator[Database]:
    # The truncating `db` fixture, PostgreSQL only: terminating backends is PostgreSQL's blip.
    _truncate(postgres_db)
    yield postgres_db
    # Other tests share this database object: leave them a pool with no killed connection.
    postgres_db.dispose()


@pytest.fixture
def chaos_api(pg: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Tenant]]:
    """The API on `pg` and a tenant; pooled connections are handed out unpinged, so a request
    meets a connection whose backend was terminated."""
    tenant = make_tenant(pg, SystemClock().now_ms())
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
    app = create_app(Settings(database_url=pg.url, embedded_worker=False), db=pg)
    with TestClient(app) as http:
        yield http, tenant


@pytest.mark.postgres
def test_creates_after_the_backends_were_terminated_succeed_once_each(
    pg: Database, chaos_api: tuple[TestClient, Tenant]
) -> None:
    http, tenant = chaos_api
    for n in range(CREATES):
        assert _terminate_backends(pg) > 0
        sent = http.post(
            "/v3/calls", json=call_body(tenant), headers={**tenant.headers, "Idempotency-Key": f"k{n}"}
        )
        assert sent.status_code == 201, sent.text
    pg.dispose()  # the check reads afresh, not through a connection terminated above
    assert _stored_calls(pg) == CREATES


@pytest.mark.postgres
def test_creates_while_backends_keep_being_terminated_answer_201_or_503_and_create_once(
    pg: Database, chaos_api: tuple[TestClient, Tenant]
) -> None:
    http, tenant = chaos_api
    stop = threading.Event()

    def terminate_all_the_time() -> None:
        while not stop.wait(0.02):
            _terminate_backends(pg)

    chaos = threading.Thread(target=terminate_all_the_time, daemon=True)
    statuses: list[int] = []
    created: dict[str, str] = {}
    chaos.start()
    try:
        for n in range(CREATES):
            headers = {**tenant.headers, "Idempotency-Key": f"chaos{n}"}
            for _attempt in range(20):  # a client honouring 503 + Retry-After, without the wait
                sent = http.post("/v3/calls", json=call_body(tenant), headers=headers)
                statuses.append(sent.status_code)
                if sent.status_code == 503:
                    assert sent.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
                    assert int(sent.headers["Retry-After"]) >= 1
                    continue
                assert sent.status_code == 201, sent.text
                created[headers["Idempotency-Key"]] = sent.json()["id"]
                break
    finally:
        stop.set()
        chaos.join()
    assert set(statuses) <= {201, 503}, statuses
    assert len(created) == CREATES
    pg.dispose()  # the check reads afresh, not through a connection the chaos thread killed
    assert _stored_calls(pg) == CREATES  # no 503 left a call behind that a retry made again


@pytest.fixture
def unreachable(tmp_path: Path) -> Iterator[tuple[TestClient, Tenant]]:
    """An API whose database refuses connections (nothing listens on port 1), with well-formed
    credentials of a tenant made elsewhere."""
    elsewhere = Database(f"sqlite:///{tmp_path / 'keys.db'}")
    upgrade(elsewhere)
    tenant = make_tenant(elsewhere, SystemClock().now_ms())
    elsewhere.dispose()
    down = Database("postgresql://postgres@127.0.0.1:1/callplane")
    app = create_app(Settings(database_url=down.url, embedded_worker=False), db=down)
    yield TestClient(app), tenant  # not entered: the lifespan would need the database
    down.dispose()


def test_vox_answers_503_in_its_envelope(unreachable: tuple[TestClient, Tenant]) -> None:
    http, tenant = unreachable
    sent = http.post("/v3/calls", json=call_body(tenant), headers=tenant.headers)
    assert sent.status_code == 503
    assert sent.headers["Retry-After"] == "2"
    assert sent.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert sent.json()["error"]["details"] == {"retry_after_s": 2}


def test_retell_answers_503_in_its_shape(unreachable: tuple[TestClient, Tenant]) -> None:
    http, tenant = unreachable
    sent = http.get("/v2/get-call/call_x", headers=tenant.headers)
    assert sent.status_code == 503
    assert sent.headers["Retry-After"] == "2"
    assert sent.json()["status"] == "error"
    assert "temporarily unavailable" in sent.json()["message"]


def test_vocode_answers_503_in_its_shape(unreachable: tuple[TestClient, Tenant]) -> None:
    http, tenant = unreachable
    sent = http.get("/v1/calls", params={"id": "x"}, headers=tenant.headers)
    assert sent.status_code == 503
    assert sent.headers["Retry-After"] == "2"
    assert "temporarily unavailable" in sent.json()["detail"]


def test_zudu_answers_503_in_its_shape(unreachable: tuple[TestClient, Tenant]) -> None:
    http, tenant = unreachable
    sent = http.get("/api/calls/x", headers={"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret})
    assert sent.status_code == 503
    assert sent.headers["Retry-After"] == "2"
    assert sent.json()["status"] == "error"
    assert sent.json()["message"] == "Service unavailable"


@pytest.mark.postgres
@pytest.mark.parametrize("deliver", [True, False], ids=["committed", "not_committed"])
def test_a_create_whose_commit_loses_the_connection_answers_201_once(pg: Database, deliver: bool) -> None:
    # Issue 14: the outcome of a lost commit was unknown, so it answered 503 — safe only with an
    # Idempotency-Key, which this request does not carry. The call's id is ours: a fresh
    # connection tells whether the commit happened (answer it) or not (insert it again).
    tenant = make_tenant(pg, SystemClock().now_ms())
    cut = CommitCut(pg.url, deliver=deliver)
    sent = _create_through(cut, tenant)
    assert cut.cut.is_set()  # the create's commit did lose its connection
    assert cut.committed_upstream.is_set() is deliver
    assert sent.status_code == 201, sent.text
    assert _stored_ids(pg) == [sent.json()["id"]]


def _create_through(cut: CommitCut, tenant: Tenant) -> httpx.Response:
    """One `POST /v3/calls` by an API whose database connections go through `cut`."""
    through = Database(cut.url)
    try:
        app = create_app(Settings(database_url=through.url, embedded_worker=False), db=through)
        with TestClient(app) as http:
            return http.post("/v3/calls", json=call_body(tenant), headers=tenant.headers)
    finally:
        through.dispose()
        cut.close()


def _stored_ids(db: Database) -> list[str]:
    with db.read() as conn:
        return list(conn.execute(select(calls.c.id)).scalars().all())


#: A deferred trigger that makes the commit of a transaction inserting a call take this long.
_SLOW_COMMIT_S = 1.0


@pytest.mark.postgres
def test_a_create_whose_lost_commit_lands_after_the_lookup_answers_201_once(pg: Database) -> None:
    # The commit reaches the server and is still running (here: a deferred trigger) when the
    # client has lost the connection and looked the call up on another one: not visible yet,
    # so the insert runs again with the same id, waits for the first transaction and fails on
    # the primary key once it commits. That was a 500 for a call that exists; it is the call.
    tenant = make_tenant(pg, SystemClock().now_ms())
    with pg.write() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({_SLOW_COMMIT_S}); RETURN NULL; END $$"
        )
        conn.exec_driver_sql(
            "CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON calls "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_slow_commit()"
        )
    cut = CommitCut(pg.url, deliver=True, wait=False)
    try:
        sent = _create_through(cut, tenant)
        assert cut.cut.is_set()
        assert sent.status_code == 201, sent.text
        assert _stored_ids(pg) == [sent.json()["id"]]
    finally:
        with pg.write() as conn:
            conn.exec_driver_sql("DROP TRIGGER test_slow_commit ON calls")
            conn.exec_driver_sql("DROP FUNCTION test_slow_commit()")
