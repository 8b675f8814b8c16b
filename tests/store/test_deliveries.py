"""Deliveries after the outbox: what a claimed delivery carries, who else may claim it, and the
order one subject's deliveries to one destination are claimed in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callplane.engine.clock import SystemClock
from callplane.engine.services.webhooks import new_event_id
from callplane.store import deliveries, outbox
from callplane.store.db import Database
from callplane.store.deliveries import AttemptResult
from callplane.store.outbox import DeliveryStatus, NewEvent, Subject, SubjectKind, Target
from callplane.store.schema import webhook_deliveries
from tests.conftest import _truncate
from tests.engine.services.test_webhooks import local_webhooks
from tests.factories import Tenant, make_tenant

LEASE_MS = 60_000


def _event(db: Database, tenant: Tenant, now: int, targets: list[Target]) -> list[str]:
    with db.write() as conn:
        return outbox.add_event(
            conn,
            tenant.organization_id,
            event_id=new_event_id(),
            subject=Subject(SubjectKind.CALL, tenant.agent_id),  # any id: the relay never reads the call
            event_type="call_ended",
            body="{}",
            now=now,
            targets=targets,
        )


def test_a_claim_carries_each_destinations_secret_and_hides_it_for_the_lease(
    db: Database, tenant: Tenant
) -> None:
    now = SystemClock().now_ms()
    admin = local_webhooks(db, lambda: now)
    enabled = admin.add(tenant.organization_id, "https://a.example.com/on")
    disabled = admin.add(tenant.organization_id, "https://a.example.com/off")
    agent_url_secret = admin.rotate_agent_url_secret(tenant.organization_id)
    with db.write() as conn:
        outbox.disable_endpoint(conn, tenant.organization_id, disabled.endpoint.id, "test")
    _event(
        db,
        tenant,
        now,
        [
            Target(enabled.endpoint.url, enabled.endpoint.id),
            Target(disabled.endpoint.url, disabled.endpoint.id),
            Target("https://a.example.com/agent", None),
        ],
    )
    with db.write() as conn:
        claimed = deliveries.claim_deliveries(conn, now, LEASE_MS, 10)
    found = {d.url.rsplit("/", 1)[1]: (d.secret, d.enabled, d.event_type, d.attempts) for d in claimed}
    assert found == {
        "on": (enabled.secret, True, "call_ended", 0),
        "off": (disabled.secret, False, "call_ended", 0),
        "agent": (agent_url_secret, True, "call_ended", 0),
    }
    with db.write() as conn:
        assert deliveries.claim_deliveries(conn, now + LEASE_MS - 1, LEASE_MS, 10) == []
    with db.write() as conn:
        again = deliveries.claim_deliveries(conn, now + LEASE_MS, LEASE_MS, 10)
    assert sorted(d.id for d in again) == sorted(d.id for d in claimed)


@pytest.mark.postgres
def test_relays_claiming_at_once_on_postgresql_take_different_deliveries(postgres_db: Database) -> None:
    db = postgres_db
    _truncate(db)
    now = SystemClock().now_ms()
    tenant = make_tenant(db, now)
    targets = [Target(f"https://a.example.com/{i}", None) for i in range(6)]
    local_webhooks(db, lambda: now).rotate_agent_url_secret(tenant.organization_id)
    _event(db, tenant, now, targets)
    with db.engine.connect() as first:  # its transaction stays open: its rows stay locked
        mine = deliveries.claim_deliveries(first, now, LEASE_MS, 4)
        with db.write() as conn:
            theirs = deliveries.claim_deliveries(conn, now, LEASE_MS, 10)
        first.commit()
    assert len(mine) == 4 and len(theirs) == 2
    assert not {d.id for d in mine} & {d.id for d in theirs}


def test_a_delivery_waits_while_an_earlier_event_of_its_subject_is_pending_there(
    db: Database, tenant: Tenant
) -> None:
    """An end and its analysis written together: the analysis is claimed only once the end is
    finished at that destination; elsewhere, and for another subject, nothing waits."""
    now = SystemClock().now_ms()
    local_webhooks(db, lambda: now).rotate_agent_url_secret(tenant.organization_id)
    here, there = Target("https://a.example.com/here", None), Target("https://a.example.com/there", None)
    call, other = Subject(SubjectKind.CALL, "call-1"), Subject(SubjectKind.CALL, "call-2")
    ended, analyzed, others = new_event_id(), new_event_id(), new_event_id()
    with db.write() as conn:
        outbox.add_events(
            conn,
            tenant.organization_id,
            [
                NewEvent(ended, call, "call_ended", "{}", [here]),
                NewEvent(analyzed, call, "call_analyzed", "{}", [here, there]),
                NewEvent(others, other, "call_analyzed", "{}", [here]),
            ],
            now,
        )
    with db.write() as conn:
        first = deliveries.claim_deliveries(conn, now, LEASE_MS, 10)
    claimed = sorted((d.event_id, d.url) for d in first)
    assert claimed == sorted([(ended, here.url), (analyzed, there.url), (others, here.url)])
    ended = next(d for d in first if d.event_type == "call_ended")
    with db.write() as conn:  # the end is retried later: still pending, the analysis still waits
        retry = AttemptResult(now, 5, 500, "HTTP 500", DeliveryStatus.PENDING, now + 1)
        assert deliveries.record_attempt(conn, ended, retry)
    with db.write() as conn:
        [again] = deliveries.claim_deliveries(conn, now + 1, LEASE_MS, 10)
    assert again.id == ended.id
    with db.write() as conn:
        assert deliveries.record_attempt(
            conn, again, AttemptResult(now + 1, 5, 204, None, DeliveryStatus.DELIVERED)
        )
    with db.write() as conn:
        [last] = deliveries.claim_deliveries(conn, now + 2, LEASE_MS, 10)
    assert (last.event_id, last.url) == (analyzed, here.url)


def test_a_redelivery_wakes_the_relays_of_its_process_when_it_commits(db: Database, tenant: Tenant) -> None:
    now = SystemClock().now_ms()
    local_webhooks(db, lambda: now).rotate_agent_url_secret(tenant.organization_id)
    fresh = Database(db.url)  # its own pool: no connection marked by another test's writes
    woken: list[str] = []
    stop = outbox.on_events_committed(fresh, lambda: woken.append("woken"))
    try:
        _event(fresh, tenant, now, [Target("https://a.example.com/hooks", None)])
        assert woken == ["woken"]
        delivered = AttemptResult(now, 5, 204, None, DeliveryStatus.DELIVERED)
        with fresh.write() as conn:
            [claimed] = deliveries.claim_deliveries(conn, now, LEASE_MS, 10)
            assert deliveries.record_attempt(conn, claimed, delivered)
        assert woken == ["woken"]  # recording an attempt makes nothing due
        with fresh.write() as conn:
            deliveries.redeliver(conn, tenant.organization_id, claimed.id, now + 1)
    finally:
        stop()
        fresh.dispose()
    assert woken == ["woken", "woken"]


def test_deliveries_waiting_behind_a_retry_are_due_with_it_and_announced_when_it_is_delivered(
    db: Database, tenant: Tenant
) -> None:
    """While the end is retried, its analysis is not due before the retry (the claim does not read
    it on every pass); once the end is delivered the analysis is due, and the relays of the
    process hear of it at commit rather than at their next poll."""
    now = SystemClock().now_ms()
    local_webhooks(db, lambda: now).rotate_agent_url_secret(tenant.organization_id)
    here = Target("https://a.example.com/here", None)
    call = Subject(SubjectKind.CALL, "call-1")
    ended, analyzed = new_event_id(), new_event_id()
    fresh = Database(db.url)  # its own pool: no connection marked by another test's writes
    woken: list[str] = []
    stop = outbox.on_events_committed(fresh, lambda: woken.append("woken"))
    try:
        with fresh.write() as conn:
            outbox.add_events(
                conn,
                tenant.organization_id,
                [
                    NewEvent(ended, call, "call_ended", "{}", [here]),
                    NewEvent(analyzed, call, "call_analyzed", "{}", [here]),
                ],
                now,
            )
        woken.clear()
        with fresh.write() as conn:
            [end] = deliveries.claim_deliveries(conn, now, LEASE_MS, 10)
            retry = AttemptResult(now, 5, 500, "HTTP 500", DeliveryStatus.PENDING, now + 300_000)
            assert deliveries.record_attempt(conn, end, retry)
        assert woken == []
        assert _due_at(fresh, tenant, analyzed) == now + 300_000
        with fresh.write() as conn:
            [again] = deliveries.claim_deliveries(conn, now + 300_000, LEASE_MS, 10)
            assert again.event_id == ended
            delivered = AttemptResult(now + 300_001, 5, 204, None, DeliveryStatus.DELIVERED)
            assert deliveries.record_attempt(conn, again, delivered)
        assert woken == ["woken"]
        with fresh.write() as conn:
            [last] = deliveries.claim_deliveries(conn, now + 300_001, LEASE_MS, 10)
        assert last.event_id == analyzed
    finally:
        stop()
        fresh.dispose()


def _due_at(db: Database, tenant: Tenant, event_id: str) -> int:
    d = webhook_deliveries
    with db.read() as conn:
        due: int = conn.execute(
            select(d.c.next_attempt_at).where(
                d.c.organization_id == tenant.organization_id, d.c.event_id == event_id
            )
        ).scalar_one()
    return due


def test_a_failed_test_event_never_holds_back_the_next_one(db: Database, tenant: Tenant) -> None:
    """Test events are pings: the receiver fixed, a new test goes out while the old one waits
    for its retry."""
    now = SystemClock().now_ms()
    local_webhooks(db, lambda: now).rotate_agent_url_secret(tenant.organization_id)
    here = Target("https://a.example.com/here", None)
    endpoint = Subject(SubjectKind.ENDPOINT, "endpoint-1")
    first, second = new_event_id(), new_event_id()
    with db.write() as conn:
        outbox.add_events(
            conn, tenant.organization_id, [NewEvent(first, endpoint, "test", "{}", [here])], now
        )
    with db.write() as conn:
        [claimed] = deliveries.claim_deliveries(conn, now, LEASE_MS, 10)
        retry = AttemptResult(now, 5, 500, "HTTP 500", DeliveryStatus.PENDING, now + 1_800_000)
        assert deliveries.record_attempt(conn, claimed, retry)
    with db.write() as conn:
        outbox.add_events(
            conn, tenant.organization_id, [NewEvent(second, endpoint, "test", "{}", [here])], now + 1
        )
    with db.write() as conn:
        [fresh] = deliveries.claim_deliveries(conn, now + 1, LEASE_MS, 10)
    assert fresh.event_id == second
