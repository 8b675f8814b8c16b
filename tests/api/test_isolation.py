"""One tenant's request stalled in the database does not hold up another tenant's requests.

A real server (`uvicorn` running the real app in its own process, as `callplane serve` does) on
127.0.0.1 over the real PostgreSQL database: tenant A's request waits on a lock held by the test
for as long as the test likes; tenant B's request is answered meanwhile. No timing is asserted;
how much a heavy tenant slows another's reads is measured by `bench/isolation.py`.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from callplane.engine.clock import SystemClock
from callplane.store.db import Database
from tests.factories import insert_calls, make_tenant, random_call
from tests.fakes.server import free_port

pytestmark = pytest.mark.slow


@contextmanager
def server(db: Database) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "CALLPLANE_DATABASE_URL": db.url, "CALLPLANE_EMBEDDED_WORKER": "false"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "callplane.api.app:create_app"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.postgres
def test_a_request_blocked_in_the_database_does_not_hold_up_another_tenants(postgres_db: Database) -> None:
    """The structural property behind the latency figures, without timing anything: tenant A's
    request waits on a lock in PostgreSQL (held by this test) for as long as the test likes;
    meanwhile tenant B's request is answered. With database work on the event loop, B would wait
    behind A until the lock is released, and this test would fail however fast the host is."""
    db = postgres_db
    now = SystemClock().now_ms()
    blocked = make_tenant(db, now, name="blocked")
    other = make_tenant(db, now, name="other")
    call = random_call(random.Random(3), other.organization_id, [other.agent_id], start_at=now)
    insert_calls(db, [call])
    outcome: list[int] = []
    with server(db) as base, db.engine.connect() as holder:
        # The connection's transaction (begun by the statement) holds the lock until rollback.
        holder.exec_driver_sql("LOCK TABLE webhook_endpoints IN ACCESS EXCLUSIVE MODE")

        def blocked_request() -> None:
            with httpx.Client(base_url=base, timeout=300) as client:
                outcome.append(client.get("/admin/v1/webhook-endpoints", headers=blocked.headers).status_code)

        waiting = threading.Thread(target=blocked_request, daemon=True)
        waiting.start()
        # Until A's query really waits on the lock (each look its own transaction: PostgreSQL
        # keeps one snapshot of pg_stat_activity per transaction).
        while not _waiting_on_a_lock(db):
            assert waiting.is_alive() and not outcome, outcome
            time.sleep(0.05)
        with httpx.Client(base_url=base, timeout=300) as client:
            answered = client.get(f"/v3/calls/{call.id}", headers=other.headers)
        assert answered.status_code == 200, answered.text
        assert waiting.is_alive() and not outcome  # A is still waiting: B did not need it to finish
        holder.rollback()
        waiting.join(timeout=300)
    assert outcome == [200]


def _waiting_on_a_lock(db: Database) -> bool:
    with db.read() as conn:
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND position('webhook_endpoints' in query) > 0"
        ).scalar()
    return bool(found)
