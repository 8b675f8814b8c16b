"""A live call's record stored as it grows (`store.progress`), and what the terminal transition
does with it: fenced writes, kept by a reaper, indexed for search; `canceled` without a fence
applies to queued calls only."""

from __future__ import annotations

from sqlalchemy import select

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine import lifecycle
from callplane.engine.clock import FixedClock
from callplane.engine.jobs.dispatcher import dispatch
from callplane.store import calls as call_store
from callplane.store import progress
from callplane.store.db import Database
from callplane.store.lifecycle import Ending
from callplane.store.progress import Record
from callplane.store.schema import calls
from tests.engine.scripted import create_calls
from tests.factories import Tenant

NOW = 1_778_400_000_000
SAID = [{"role": "user", "content": "네, 그 시간에 갈게요.", "start_at": NOW + 1000, "end_at": NOW + 2000}]


def dialing(db: Database, tenant: Tenant) -> tuple[str, int]:
    clock = FixedClock(NOW)
    [call_id] = create_calls(db, clock, tenant, 1)
    [claimed] = dispatch(db, owner="w1", now=NOW, capacity=1, lease_ms=30_000, scan_limit=10).claimed
    return call_id, claimed.attempt


def store(db: Database, tenant: Tenant, call_id: str, attempt: int) -> int:
    record = Record(tenant.organization_id, call_id, attempt, SAID, {"appointment_status": "confirmed"})
    with db.write() as conn:
        return progress.store(conn, [record])


def answer(db: Database, tenant: Tenant, call_id: str, attempt: int) -> None:
    with db.write() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)
        assert call is not None
        assert lifecycle.answered(conn, call, fence=attempt, at=NOW, now=NOW)


def test_only_the_lease_holder_writes_and_only_while_the_call_is_live(db: Database, tenant: Tenant) -> None:
    call_id, attempt = dialing(db, tenant)
    assert store(db, tenant, call_id, attempt) == 0  # not answered: nothing was said yet
    answer(db, tenant, call_id, attempt)
    assert store(db, tenant, call_id, attempt + 1) == 0  # another attempt's (stale) worker
    assert store(db, tenant, call_id, attempt) == 1
    with db.read() as conn:
        assert progress.transcript(conn, tenant.organization_id, call_id) == SAID


def test_a_reaped_call_keeps_its_record_and_is_searchable_by_it(db: Database, tenant: Tenant) -> None:
    call_id, attempt = dialing(db, tenant)
    answer(db, tenant, call_id, attempt)
    store(db, tenant, call_id, attempt)
    with db.write() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)
        assert call is not None
        reaped = Ending(CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI, end_at=NOW + 60_000)
        assert lifecycle.ended(conn, call, reaped, now=NOW + 60_000, fence=attempt)
    assert store(db, tenant, call_id, attempt) == 0  # ended: a late write changes nothing
    with db.read() as conn:
        row = conn.execute(
            select(calls.c.transcript, calls.c.collected, calls.c.search_text).where(calls.c.id == call_id)
        ).one()
    assert row.transcript == SAID and row.collected == {"appointment_status": "confirmed"}
    assert "갈게요" in row.search_text


def test_an_unfenced_cancel_moves_a_queued_call_but_never_a_live_one(db: Database, tenant: Tenant) -> None:
    call_id, attempt = dialing(db, tenant)
    canceled = Ending(CallStatus.CANCELED, DisconnectionReason.CANCELED_BY_USER, end_at=NOW)
    with db.write() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)
        assert call is not None
        assert not lifecycle.ended(conn, call, canceled, now=NOW, fence=None)  # its worker hangs it up
        assert lifecycle.ended(conn, call, canceled, now=NOW, fence=attempt)
    [queued] = create_calls(db, FixedClock(NOW), tenant, 1)
    with db.write() as conn:
        call = call_store.get_call(conn, tenant.organization_id, queued)
        assert call is not None
        assert lifecycle.ended(conn, call, canceled, now=NOW, fence=None)
