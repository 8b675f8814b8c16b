"""The webhook log's retention purge, on both databases."""

from __future__ import annotations

from sqlalchemy import func, select

from callplane.domain.ids import new_id
from callplane.store import deliveries, outbox, retention
from callplane.store.db import Database
from callplane.store.deliveries import AttemptResult
from callplane.store.outbox import DeliveryStatus, Subject, SubjectKind, Target
from callplane.store.schema import webhook_attempts, webhook_deliveries, webhook_events
from tests.factories import Tenant

DAY = 86_400_000
NOW = 1_800_000_000_000


def seed(db: Database, org: str, outcomes: list[tuple[DeliveryStatus, int]]) -> str:
    """One event with a delivery per outcome; each non-pending one finished at its time after
    two attempts (a retry, then the outcome). Returns the event id."""
    event_id = "msg_" + new_id().replace("-", "")
    created = min(at for _, at in outcomes)
    with db.write() as conn:
        targets = [Target(f"https://hooks.example.com/{i}", None) for i in range(len(outcomes))]
        outbox.add_event(
            conn, org, event_id=event_id, subject=Subject(SubjectKind.CALL, new_id()),
            event_type="call_ended", body="{}", now=created, targets=targets,
        )  # fmt: skip
        claimed = deliveries.claim_deliveries(conn, created, 1, 100)
        due = sorted((d for d in claimed if d.event_id == event_id), key=lambda d: d.url)
        for delivery, (outcome, at) in zip(due, outcomes, strict=True):
            retry = AttemptResult(created, 5, 500, None, DeliveryStatus.PENDING, next_attempt_at=at)
            assert deliveries.record_attempt(conn, delivery, retry)
            if outcome is not DeliveryStatus.PENDING:
                again = next(d for d in deliveries.claim_deliveries(conn, at, 1, 100) if d.id == delivery.id)
                assert deliveries.record_attempt(conn, again, AttemptResult(at, 5, 200, None, outcome))
    return event_id


def left(db: Database) -> tuple[set[str], list[tuple[str, str]], int]:
    """Events, (event, status) of deliveries, and attempt rows still stored."""
    with db.read() as conn:
        events = set(conn.execute(select(webhook_events.c.id)).scalars())
        d = webhook_deliveries
        deliveries = sorted((r.event_id, r.status) for r in conn.execute(select(d.c.event_id, d.c.status)))
        attempts = conn.execute(select(func.count()).select_from(webhook_attempts)).scalar_one()
    return events, deliveries, attempts


def test_finished_deliveries_go_after_the_cut_off_pending_ones_never(db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    old = NOW - 40 * DAY
    gone = seed(db, org, [(DeliveryStatus.DELIVERED, old), (DeliveryStatus.FAILED, old + DAY)])
    half = seed(db, org, [(DeliveryStatus.DELIVERED, old), (DeliveryStatus.PENDING, old)])
    recent = seed(db, org, [(DeliveryStatus.DELIVERED, NOW - DAY)])
    with db.write() as conn:
        assert retention.purge_webhook_log(conn, NOW - 30 * DAY, 100) == 3
    events, deliveries, attempts = left(db)
    assert gone not in events
    assert events == {half, recent}  # `half` keeps its event while a delivery remains
    assert deliveries == sorted([(half, "pending"), (recent, "delivered")])
    assert attempts == 1 + 2  # the pending delivery's retry, the recent one's two attempts
    with db.write() as conn:
        assert retention.purge_webhook_log(conn, NOW - 30 * DAY, 100) == 0


def test_batches_take_the_oldest_first_until_none_is_left(db: Database, tenant: Tenant) -> None:
    org = tenant.organization_id
    ids = [seed(db, org, [(DeliveryStatus.DELIVERED, NOW - (50 - i) * DAY)]) for i in range(5)]
    with db.write() as conn:
        assert retention.purge_webhook_log(conn, NOW, 2) == 2
    assert left(db)[0] == set(ids[2:])
    batches = []
    while True:
        with db.write() as conn:
            purged = retention.purge_webhook_log(conn, NOW, 2)
        if not purged:
            break
        batches.append(purged)
    assert batches == [2, 1] and left(db) == (set(), [], 0)
