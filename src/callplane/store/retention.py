"""Retention of the webhook log: finished deliveries are kept for a while, then deleted.

Every event leaves an event row (the signed body), one delivery row per destination and one row
per attempt; a busy organisation writes several of each per call, for ever. A delivery that
finished (delivered or failed) before the cut-off is deleted with its attempts, and an event is
deleted once none of its deliveries remain. Pending deliveries are never touched, however old: a
retry that is still due must still happen. Calls themselves are not affected.

Deletion runs in batches, each its own short write transaction, so a large backlog never holds
SQLite's single writer (or PostgreSQL row locks) for long.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import Connection, delete, exists, select

from callplane.store.outbox import DeliveryStatus
from callplane.store.schema import webhook_attempts, webhook_deliveries, webhook_events


def purge_webhook_log(conn: Connection, before: int, limit: int) -> int:
    """Delete up to `limit` deliveries finished before `before` (Unix ms), their attempts and
    the events left without deliveries. Returns how many deliveries went."""
    d = webhook_deliveries
    rows = conn.execute(
        select(d.c.organization_id, d.c.id, d.c.event_id)
        .where(d.c.finished_at < before, d.c.status != DeliveryStatus.PENDING.value)
        .order_by(d.c.finished_at)
        .limit(limit)
    ).all()
    deliveries: dict[str, list[str]] = defaultdict(list)
    events: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        deliveries[row.organization_id].append(row.id)
        events[row.organization_id].add(row.event_id)
    for org, ids in deliveries.items():
        a = webhook_attempts
        conn.execute(delete(a).where(a.c.organization_id == org, a.c.delivery_id.in_(ids)))
        conn.execute(delete(d).where(d.c.organization_id == org, d.c.id.in_(ids)))
    e = webhook_events
    for org, event_ids in events.items():
        remaining = exists().where(d.c.organization_id == e.c.organization_id, d.c.event_id == e.c.id)
        conn.execute(delete(e).where(e.c.organization_id == org, e.c.id.in_(event_ids), ~remaining))
    return len(rows)
