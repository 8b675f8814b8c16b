"""The claim pass on both databases: every dial-time rule gives its documented result."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, text

from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.domain.phone import parse_kr
from callplane.engine.clock import FixedClock
from callplane.engine.jobs.dispatcher import PassResult, dispatch
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import calls as call_store
from callplane.store import deliveries, outbox, queue
from callplane.store.db import Database
from callplane.store.schema import calls
from tests.engine.scripted import create_calls
from tests.factories import Tenant, make_tenant

SEOUL = ZoneInfo("Asia/Seoul")
LEASE_MS = 30_000


def at_seoul(*args: int) -> int:
    return int(datetime(*args, tzinfo=SEOUL).timestamp() * 1000)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at_seoul(2026, 3, 2, 12, 0))


def claim(
    db: Database, clock: FixedClock, capacity: int = 100, owner: str = "w1", scan: int = 200
) -> PassResult:
    return dispatch(
        db, owner=owner, now=clock.now_ms(), capacity=capacity, lease_ms=LEASE_MS, scan_limit=scan
    )


def get(db: Database, tenant: Tenant, call_id: str) -> Call:
    with db.read() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)
    assert call is not None
    return call


def statuses(db: Database, tenant: Tenant, ids: list[str]) -> list[tuple[CallStatus, Any]]:
    return [(c.status, c.disconnection_reason) for c in (get(db, tenant, i) for i in ids)]


def configure(db: Database, clock: FixedClock, tenant: Tenant, **changes: Any) -> None:
    Admin(db, clock.now_ms).update_organization(tenant.organization_id, changes)


def test_a_due_call_is_claimed_once_with_a_lease_and_a_fence(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    [call_id] = create_calls(db, clock, tenant, 1)
    clock.advance(500)
    result = claim(db, clock)
    assert [c.call.id for c in result.claimed] == [call_id]
    assert result.claimed[0].attempt == 1
    call = get(db, tenant, call_id)
    assert call.status is CallStatus.DIALING
    assert call.attempt == 1 and call.start_at == clock.now_ms()
    with db.read() as conn:
        row = conn.execute(
            calls.select().where(calls.c.organization_id == tenant.organization_id, calls.c.id == call_id)
        ).one()
    assert row.lease_owner == "w1" and row.lease_expires_at == clock.now_ms() + LEASE_MS
    assert row.listed_at == clock.now_ms()
    # Nothing is claimable any more, by anyone.
    assert claim(db, clock, owner="w2").claimed == []


def test_a_call_due_later_waits(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    [call_id] = create_calls(db, clock, tenant, 1)
    clock.advance(-1000)
    assert claim(db, clock).claimed == []
    assert get(db, tenant, call_id).status is CallStatus.QUEUED


def test_concurrency_limit_keeps_excess_calls_queued_then_refuses_them_past_the_wait(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    configure(db, clock, tenant, max_concurrent_calls=3, max_queue_wait_s=60)
    ids = create_calls(db, clock, tenant, 5)
    first = claim(db, clock)
    assert len(first.claimed) == 3 and first.waiting == 2
    assert claim(db, clock, owner="w2").claimed == []
    clock.advance(60_000)
    assert claim(db, clock).refused == 0  # exactly the limit: still waiting
    clock.advance(1)
    assert claim(db, clock).refused == 2
    waited = [s for s in statuses(db, tenant, ids) if s[0] is CallStatus.ERROR]
    assert waited == [(CallStatus.ERROR, DisconnectionReason.CONCURRENCY_LIMIT_REACHED)] * 2
    refused = [get(db, tenant, i) for i in ids if get(db, tenant, i).status is CallStatus.ERROR]
    assert all(c.end_at == clock.now_ms() and c.start_at is None for c in refused)


def test_a_freed_slot_is_taken_by_the_next_call(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    configure(db, clock, tenant, max_concurrent_calls=1)
    ids = create_calls(db, clock, tenant, 2)
    [first] = claim(db, clock).claimed
    assert claim(db, clock).claimed == []
    with db.write() as conn:
        call_store.move(
            conn, tenant.organization_id, first.call.id, CallStatus.NOT_CONNECTED, clock.now_ms(), fence=1
        )
    [second] = claim(db, clock).claimed
    assert {first.call.id, second.call.id} == set(ids)


def test_hourly_cap_refuses_once_reached_and_frees_after_an_hour(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    configure(db, clock, tenant, hourly_call_limit=2)
    ids = create_calls(db, clock, tenant, 3)
    result = claim(db, clock)
    assert len(result.claimed) == 2 and result.refused == 1
    assert (CallStatus.ERROR, DisconnectionReason.HOURLY_CALL_LIMIT_REACHED) in statuses(db, tenant, ids)
    clock.advance(3_600_000 - 1)
    [late] = create_calls(db, clock, tenant, 1)
    claim(db, clock)
    assert get(db, tenant, late).disconnection_reason is DisconnectionReason.HOURLY_CALL_LIMIT_REACHED
    clock.advance(1)
    [next_hour] = create_calls(db, clock, tenant, 1)
    assert [c.call.id for c in claim(db, clock).claimed] == [next_hour]


def test_daily_cap_counts_from_local_midnight(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    configure(db, clock, tenant, daily_call_limit=2)
    clock.value = at_seoul(2026, 3, 2, 23, 30)
    create_calls(db, clock, tenant, 2)
    assert len(claim(db, clock).claimed) == 2
    [refused] = create_calls(db, clock, tenant, 1)
    claim(db, clock)
    assert get(db, tenant, refused).disconnection_reason is DisconnectionReason.DAILY_CALL_LIMIT_REACHED
    clock.value = at_seoul(2026, 3, 3, 0, 0)  # a new day in Seoul, 30 minutes later
    [tomorrow] = create_calls(db, clock, tenant, 1)
    assert [c.call.id for c in claim(db, clock).claimed] == [tomorrow]


def test_no_balance_refuses_and_postpaid_dials(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    configure(db, clock, tenant, balance="0")
    [broke] = create_calls(db, clock, tenant, 1)
    assert claim(db, clock).refused == 1
    assert statuses(db, tenant, [broke]) == [(CallStatus.ERROR, DisconnectionReason.INSUFFICIENT_BALANCE)]
    configure(db, clock, tenant, balance=None)
    [postpaid] = create_calls(db, clock, tenant, 1)
    assert [c.call.id for c in claim(db, clock).claimed] == [postpaid]


def test_a_closed_window_defers_to_the_next_opening(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    configure(db, clock, tenant, calling_window={"timezone": "Asia/Seoul", "start": "09:00", "end": "10:00"})
    [call_id] = create_calls(db, clock, tenant, 1)  # created at 12:00, after today's window
    result = claim(db, clock)
    assert result.deferred == 1 and result.claimed == []
    call = get(db, tenant, call_id)
    assert call.status is CallStatus.QUEUED and call.due_at == at_seoul(2026, 3, 3, 9, 0)
    clock.value = at_seoul(2026, 3, 3, 8, 59)
    assert claim(db, clock).claimed == []
    clock.value = at_seoul(2026, 3, 3, 9, 0)
    assert [c.call.id for c in claim(db, clock).claimed] == [call_id]


def test_waiting_for_the_window_does_not_count_as_waiting_for_a_slot(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    configure(
        db,
        clock,
        tenant,
        max_queue_wait_s=60,
        calling_window={"timezone": "Asia/Seoul", "start": "09:00", "end": "10:00"},
    )
    [call_id] = create_calls(db, clock, tenant, 1)
    claim(db, clock)
    clock.value = at_seoul(2026, 3, 3, 9, 0, 30)
    assert [c.call.id for c in claim(db, clock).claimed] == [call_id]


def test_a_suppressed_callee_is_canceled_at_dial_time(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    [call_id] = create_calls(db, clock, tenant, 1, to_number=parse_kr("01099998888", "n"))
    Admin(db, clock.now_ms).suppress(tenant.organization_id, parse_kr("01099998888", "n"), "asked us")
    assert claim(db, clock).refused == 1
    call = get(db, tenant, call_id)
    assert (call.status, call.disconnection_reason) == (CallStatus.CANCELED, DisconnectionReason.SUPPRESSED)
    assert call.start_at is None


def test_lost_caller_ids_are_refused(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    admin = Admin(db, clock.now_ms)
    [presented] = create_calls(db, clock, tenant, 1, presentation_number=tenant.presentation_number)
    admin.approve_presentation_number(tenant.organization_id, tenant.presentation_number, approved=False)
    [from_second] = create_calls(db, clock, tenant, 1, from_number=tenant.second_number)
    admin.remove_number(tenant.organization_id, tenant.second_number)
    assert claim(db, clock).refused == 2
    for call_id, field in ((presented, "presentation_number"), (from_second, "from_number")):
        call = get(db, tenant, call_id)
        assert (call.status, call.disconnection_reason) == (CallStatus.ERROR, DisconnectionReason.DIAL_FAILED)
        assert call.error_detail is not None and call.error_detail.startswith(field)


def test_worker_capacity_bounds_a_pass(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    create_calls(db, clock, tenant, 5)
    assert len(claim(db, clock, capacity=2).claimed) == 2
    assert len(claim(db, clock, capacity=0).claimed) == 0
    assert len(claim(db, clock, capacity=5).claimed) == 3


def test_a_full_organisation_does_not_starve_the_others(db: Database, clock: FixedClock) -> None:
    busy = make_tenant(db, clock.now_ms(), "busy")
    quiet = make_tenant(db, clock.now_ms(), "quiet")
    configure(db, clock, busy, max_concurrent_calls=1)
    create_calls(db, clock, busy, 60)
    clock.advance(1000)
    [late] = create_calls(db, clock, quiet, 1)
    assert len(claim(db, clock, scan=20).claimed) == 2  # busy's first call, and quiet's
    assert get(db, quiet, late).status is CallStatus.DIALING


def test_a_prepaid_organisation_waiting_for_its_balance_does_not_starve_the_others(
    db: Database, clock: FixedClock
) -> None:
    broke = make_tenant(db, clock.now_ms(), "broke")
    quiet = make_tenant(db, clock.now_ms(), "quiet")
    # 150.00 KRW at 100.00 KRW a minute: one call at a time; its backlog fills every scan of 5.
    configure(db, clock, broke, balance="150.00", rate_per_minute="100.00", max_concurrent_calls=10)
    create_calls(db, clock, broke, 10)
    clock.advance(1000)
    [late] = create_calls(db, clock, quiet, 1)
    assert len(claim(db, clock, scan=5).claimed) == 2  # broke's first call, and quiet's
    assert get(db, quiet, late).status is CallStatus.DIALING
    assert len(claim(db, clock, scan=5).claimed) == 0  # broke still waits for its balance


def test_capacity_is_shared_round_robin_across_organisations(db: Database, clock: FixedClock) -> None:
    a = make_tenant(db, clock.now_ms(), "a")
    b = make_tenant(db, clock.now_ms(), "b")
    create_calls(db, clock, a, 10)
    clock.advance(1000)
    create_calls(db, clock, b, 10)
    claimed = claim(db, clock, capacity=4).claimed
    assert sorted(c.call.organization_id for c in claimed) == sorted(
        [a.organization_id] * 2 + [b.organization_id] * 2
    )


def test_cancel_of_a_queued_call_is_terminal_with_its_post_call_and_event(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    WebhookAdmin(db, clock.now_ms).add(tenant.organization_id, "https://hooks.example.com/x")
    [call_id] = create_calls(db, clock, tenant, 1)
    canceled = CallService(db, clock.now_ms).cancel(tenant.organization_id, call_id)
    assert (canceled.status, canceled.disconnection_reason) == (
        CallStatus.CANCELED,
        DisconnectionReason.CANCELED_BY_USER,
    )
    assert claim(db, clock).claimed == []
    with db.read() as conn:
        assert outbox.event_types_for_call(conn, tenant.organization_id, call_id) == ["call_ended"]
        [delivery] = deliveries.deliveries_about(conn, tenant.organization_id, call_id)
    assert delivery.url == "https://hooks.example.com/x" and delivery.status == "pending"


def test_refusals_write_their_call_ended_event_in_the_same_transaction(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    WebhookAdmin(db, clock.now_ms).add(tenant.organization_id, "https://hooks.example.com/x")
    configure(db, clock, tenant, balance="0")
    [call_id] = create_calls(db, clock, tenant, 1)
    claim(db, clock)
    with db.read() as conn:
        assert outbox.event_types_for_call(conn, tenant.organization_id, call_id) == ["call_ended"]


def test_concurrent_claimers_never_share_a_call_or_exceed_the_limit(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    """Several threads, each its own connection, claim at once (PostgreSQL: real row locks)."""
    configure(db, clock, tenant, max_concurrent_calls=7)
    create_calls(db, clock, tenant, 40)
    claimed: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def full() -> bool:
        with db.read() as conn:
            return queue.live_count(conn, tenant.organization_id) >= 7

    def claimer(owner: str) -> None:
        # Passes until the limit is reached, however the threads interleave (no fixed pass
        # count: on a slow host a pass may find the organisation locked by another claimer).
        try:
            start.wait()
            for _ in range(1000):
                result = dispatch(
                    db, owner=owner, now=clock.now_ms(), capacity=3, lease_ms=LEASE_MS, scan_limit=200
                )
                claimed.extend(c.call.id for c in result.claimed)
                if not result.claimed and full():
                    break
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(claimed) == len(set(claimed)) == 7


def test_a_cancel_racing_a_claim_still_ends_the_call(db: Database, tenant: Tenant, clock: FixedClock) -> None:
    """The claim holds the row; the cancel waits for it, then finds a dialing call and asks its end."""
    [call_id] = create_calls(db, clock, tenant, 1)
    outcome: list[Call] = []
    with db.write() as conn:
        [queued] = queue.due_calls(conn, clock.now_ms(), 10, exclude=())
        assert queue.start_dialing(conn, [queued], owner="w1", now=clock.now_ms(), lease_ms=LEASE_MS) == {
            queued.id: 1
        }
        canceler = threading.Thread(
            target=lambda: outcome.append(
                CallService(db, clock.now_ms).cancel(tenant.organization_id, call_id)
            )
        )
        canceler.start()
        time.sleep(0.3)  # let the cancel reach the locked row (either order ends the same way)
    canceler.join(timeout=30)
    [answer] = outcome
    assert answer.status is CallStatus.DIALING
    with db.read() as conn:
        row = conn.execute(
            calls.select().where(calls.c.organization_id == tenant.organization_id, calls.c.id == call_id)
        ).one()
    assert row.status == "dialing" and row.end_requested_at is not None


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_lease_renewals_are_hot_updates_touching_no_index(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    """Migration 0010: a renewal changes no indexed column, so PostgreSQL updates in place."""
    create_calls(db, clock, tenant, 3)
    assert len(claim(db, clock).claimed) == 3
    counts = text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'calls'")
    with db.write() as conn:
        # A difference within the transaction: PostgreSQL 15's "xact" view also counts what this
        # backend's earlier transactions did and has not flushed yet (the claim's updates).
        updated_before, hot_before = conn.execute(counts).one()
        for beat in range(1, 4):
            held = queue.renew_leases(conn, "w1", clock.now_ms() + beat * 1000, LEASE_MS)
            assert len(held) == 3
        updated, hot = conn.execute(counts).one()
    assert (updated - updated_before, hot - hot_before) == (9, 9)


def test_a_claim_moves_the_list_position_and_the_metadata_index_with_it(
    db: Database, tenant: Tenant, clock: FixedClock
) -> None:
    [call_id] = create_calls(db, clock, tenant, 1, metadata={"crm": "A-1"})
    clock.advance(5_000)
    assert len(claim(db, clock).claimed) == 1
    with db.read() as conn:
        row = conn.execute(
            calls.select().where(calls.c.organization_id == tenant.organization_id, calls.c.id == call_id)
        ).one()
        assert row.listed_at == row.start_at == clock.now_ms()
        meta = conn.execute(text("SELECT listed_at FROM call_meta WHERE call_id = :id"), {"id": call_id})
        assert [r.listed_at for r in meta] == [clock.now_ms()]


def test_a_batch_is_claimed_in_one_statement_and_a_stale_fence_is_left_out(
    db: Database, clock: FixedClock
) -> None:
    a = make_tenant(db, clock.now_ms(), "a")
    b = make_tenant(db, clock.now_ms(), "b")
    ids = create_calls(db, clock, a, 2, metadata={"crm": "A"}) + create_calls(db, clock, b, 1)
    clock.advance(5_000)
    updates: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE calls"):
            updates.append(statement)

    with db.write() as conn:
        due = queue.due_calls(conn, clock.now_ms(), 10, exclude=())
        assert {c.id for c in due} == set(ids)
        # The first call was read at attempt 0; as if another claim had moved it on meanwhile.
        stale = next(c for c in due if c.id == ids[0])
        conn.execute(calls.update().where(calls.c.id == stale.id).values(attempt=7))
        event.listen(conn, "before_cursor_execute", note)
        claimed = queue.start_dialing(conn, due, owner="w1", now=clock.now_ms(), lease_ms=LEASE_MS)
        event.remove(conn, "before_cursor_execute", note)
    assert claimed == {ids[1]: 1, ids[2]: 1}
    assert len(updates) == 1
    assert get(db, a, ids[0]).status is CallStatus.QUEUED
    assert get(db, a, ids[1]).status is CallStatus.DIALING
    assert get(db, b, ids[2]).status is CallStatus.DIALING
    with db.read() as conn:
        meta = dict(conn.execute(text("SELECT call_id, listed_at FROM call_meta WHERE key = 'crm'")).all())
    # The claimed call's metadata index follows its new list position; the stale one's stays.
    assert meta[ids[1]] == clock.now_ms() and meta[ids[0]] != clock.now_ms()
