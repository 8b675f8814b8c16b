"""The outbox's endpoint lookup by the stamp a change returns (`outbox.endpoints_of`)."""

from __future__ import annotations

from sqlalchemy import Connection

from callplane.domain.call import CallStatus
from callplane.engine.clock import FixedClock
from callplane.store import calls as call_store
from callplane.store import outbox
from callplane.store.db import Database
from tests.engine.scripted import create_calls
from tests.factories import make_tenant


def _endpoint(conn: Connection, org: str, url: str, now: int) -> outbox.Endpoint:
    return outbox.create_endpoint(
        conn,
        org, url=url, secret="s", events=["call_ended"], agent_id=None, description="", now=now,
    )  # fmt: skip


def test_an_endpoint_added_or_disabled_mid_call_counts_from_the_next_change(db: Database) -> None:
    clock = FixedClock(1_700_000_000_000)
    tenant = make_tenant(db, clock.now_ms())
    org, now = tenant.organization_id, clock.now_ms()
    first, second, third = create_calls(db, clock, tenant, 3)
    with db.write() as conn:
        a = _endpoint(conn, org, "https://a.test/h", now)
        moved = call_store.move_announcing(conn, org, first, CallStatus.CANCELED, now)
        assert moved is not None
        assert [e.id for e in outbox.endpoints_of(conn, org, moved.endpoints)] == [a.id]
        b = _endpoint(conn, org, "https://b.test/h", now)
        moved = call_store.move_announcing(conn, org, second, CallStatus.CANCELED, now)
        assert moved is not None
        assert sorted(e.id for e in outbox.endpoints_of(conn, org, moved.endpoints)) == sorted([a.id, b.id])
        outbox.disable_endpoint(conn, org, a.id, "test")
        moved = call_store.move_announcing(conn, org, third, CallStatus.CANCELED, now)
        assert moved is not None
        assert [e.id for e in outbox.endpoints_of(conn, org, moved.endpoints)] == [b.id]


def test_a_set_read_differently_from_its_stamp_is_not_remembered(db: Database) -> None:
    clock = FixedClock(1_700_000_000_000)
    tenant = make_tenant(db, clock.now_ms())
    org, now = tenant.organization_id, clock.now_ms()
    with db.write() as conn:
        a = _endpoint(conn, org, "https://a.test/h", now)
        b = _endpoint(conn, org, "https://b.test/h", now)
        stamp = f"{a.id},{b.id}"
        outbox.disable_endpoint(conn, org, b.id, "test")  # between the change and the lookup
        assert [e.id for e in outbox.endpoints_of(conn, org, stamp)] == [a.id]
        assert (org, stamp) not in outbox._ENDPOINTS
        assert [e.id for e in outbox.endpoints_of(conn, org, a.id)] == [a.id]
        assert (org, a.id) in outbox._ENDPOINTS
