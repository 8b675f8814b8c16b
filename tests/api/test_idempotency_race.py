"""Concurrent repeats of one Idempotency-Key through a real server (uvicorn on a socket).

Issue 15, defect 6: 200 concurrent `POST /v3/calls` with one key made one call on PostgreSQL but
answered some of them 500 (two transactions both missed the key and both inserted it). Every
answer must now be the replayed call (201, `Idempotent-Replayed: true`) or a 409, never a 5xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.engine.clock import SystemClock
from callplane.store.db import Database
from callplane.store.schema import calls
from tests.factories import call_body, make_tenant
from tests.fakes.server import serve_in_thread

REQUESTS = 200
THREADS = 32


@pytest.fixture
def base_url(db: Database) -> Iterator[str]:
    app = create_app(Settings(database_url=db.url, embedded_worker=False), db=db)
    with serve_in_thread(app) as url:
        yield url


def stored_calls(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(calls)).scalar_one())


def test_concurrent_creates_with_one_key_make_one_call_and_no_5xx(base_url: str, db: Database) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    headers = {**tenant.headers, "Idempotency-Key": "burst-1"}
    body = call_body(tenant)
    limits = httpx.Limits(max_connections=THREADS, max_keepalive_connections=THREADS)
    with httpx.Client(base_url=base_url, timeout=60, limits=limits) as http:

        def create(_: int) -> httpx.Response:
            return http.post("/v3/calls", json=body, headers=headers)

        with ThreadPoolExecutor(THREADS) as pool:
            responses = list(pool.map(create, range(REQUESTS)))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert sum(1 for r in responses if r.headers.get("Idempotent-Replayed") == "true") == statuses[201] - 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["error"]["code"] == "CONFLICT"
    assert stored_calls(db) == 1
