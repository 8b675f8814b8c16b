"""Webhook deliveries after the outbox wrote them: the relay's claim, its attempts, the logs.

The relay claims due deliveries with a visibility timeout (`next_attempt_at` pushed forward by a
lease; PostgreSQL: `FOR UPDATE SKIP LOCKED`), posts them, and records each attempt. A relay
that dies mid-POST leaves the delivery to be claimed again after its lease: delivery is at least
once, and the `webhook-id` (the event id) is the same on every attempt. One call's (or
campaign's) deliveries to one destination are claimed in the order their events were written;
an endpoint's test events are not ordered.

The logs: a subject's deliveries with their attempts (a call's page), one delivery, and the
organisation's deliveries newest first (the dashboard's delivery log: keyset pages on
`ix_webhook_deliveries_created`, migration 0010). A finished delivery can be sent again
(`redeliver`). Statuses are `outbox.DeliveryStatus`: the outbox creates deliveries pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, exists, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from callplane.domain.errors import Conflict, NotFound
from callplane.domain.ids import new_id
from callplane.store.outbox import DeliveryStatus, SubjectKind, get_endpoint, wrote_deliveries
from callplane.store.schema import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    webhook_signing_secrets,
)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    organization_id: str
    id: str
    event_id: str
    event_type: str
    endpoint_id: str | None
    url: str
    body: str
    attempts: int  #: attempts made before this one
    secret: str | None  #: None: the endpoint is gone and there is nothing to sign with
    enabled: bool
    due_at: int | None = None  #: when this attempt was due (for the lag metric)
    format: str = "vox"  #: how `body` was rendered, hence how it is signed


def deliveries_due(conn: Connection, now: int) -> bool:
    """A cheap read before taking the write lock: is any delivery due?"""
    d = webhook_deliveries
    query = select(d.c.id).where(d.c.status == DeliveryStatus.PENDING.value, d.c.next_attempt_at <= now)
    return conn.execute(query.limit(1)).first() is not None


def claim_deliveries(conn: Connection, now: int, lease_ms: int, limit: int) -> list[DueDelivery]:
    """Due deliveries, hidden from other relays for `lease_ms` while this one posts them.

    In order per subject and destination: a delivery waits while an earlier event about the same
    subject (a call's `call_ended` before its `call_analyzed`, written together) still has a
    pending delivery to the same destination (`_waits_its_turn`), retries included.

    Two statements whatever the batch: one read of the deliveries with their events, endpoints
    and signing secrets (PostgreSQL: the deliveries locked, `SKIP LOCKED`, so relays in other
    processes take other rows), and one lease update of them all."""
    d, e, ep, s = webhook_deliveries, webhook_events, webhook_endpoints, webhook_signing_secrets
    query = (
        select(
            d.c.organization_id,
            d.c.id,
            d.c.event_id,
            d.c.endpoint_id,
            d.c.url,
            d.c.attempts,
            d.c.next_attempt_at,
            e.c.type,
            e.c.body,
            e.c.format,
            ep.c.id.label("endpoint_found"),
            ep.c.secret.label("endpoint_secret"),
            ep.c.enabled,
            s.c.secret.label("agent_url_secret"),
        )
        .join(e, (e.c.organization_id == d.c.organization_id) & (e.c.id == d.c.event_id))
        .outerjoin(ep, (ep.c.organization_id == d.c.organization_id) & (ep.c.id == d.c.endpoint_id))
        # The agent version's own webhook_url (no endpoint) is signed with the organisation's secret.
        .outerjoin(s, (s.c.organization_id == d.c.organization_id) & d.c.endpoint_id.is_(None))
        .where(d.c.status == DeliveryStatus.PENDING.value, d.c.next_attempt_at <= now, ~_waits_its_turn(d, e))
        .order_by(d.c.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=d, skip_locked=True)
    rows = conn.execute(query).all()
    if not rows:
        return []
    conn.execute(
        update(d)
        .where(tuple_(d.c.organization_id, d.c.id).in_([(r.organization_id, r.id) for r in rows]))
        .values(next_attempt_at=now + lease_ms)
    )
    return [
        DueDelivery(
            r.organization_id,
            r.id,
            r.event_id,
            r.type,
            r.endpoint_id,
            r.url,
            r.body,
            r.attempts,
            *_signing(r),
            r.next_attempt_at,
            r.format,
        )
        for r in rows
    ]


def _waits_its_turn(d: Any, e: Any) -> ColumnElement[bool]:
    """Whether delivery `d` (of event `e`) has an earlier one pending to the same destination
    about the same call or campaign. Earlier: written before, by `(created_at, id)` — a
    transaction's events share `created_at`, and their ids are UUIDv7s made in order by one
    process (`domain.ids`: monotonic within it), so the id orders them; events of one call
    written by different processes are ordered by those processes' clocks. An endpoint's test
    events are pings, each on its own: a failed one never holds back the next."""
    d2, e2 = webhook_deliveries.alias("earlier_delivery"), webhook_events.alias("earlier_event")
    # The test-event check inside the EXISTS keeps `NOT EXISTS` an anti-join for PostgreSQL's
    # planner (outside it, the claim's negation became an OR run per candidate row).
    held: ColumnElement[bool] = exists().where(
        e.c.subject_kind != SubjectKind.ENDPOINT.value,
        e2.c.organization_id == e.c.organization_id,
        e2.c.subject_id == e.c.subject_id,
        tuple_(e2.c.created_at, e2.c.id) < tuple_(e.c.created_at, e.c.id),
        d2.c.organization_id == e2.c.organization_id,
        d2.c.event_id == e2.c.id,
        d2.c.status == DeliveryStatus.PENDING.value,
        d2.c.url == d.c.url,
        d2.c.endpoint_id.is_not_distinct_from(d.c.endpoint_id),
    )
    return held


def _signing(row: Any) -> tuple[str | None, bool]:
    """(secret, enabled) of a claimed delivery's destination; no secret: its endpoint is gone."""
    if row.endpoint_id is None:
        return row.agent_url_secret, True
    if row.endpoint_found is None:
        return None, False
    return row.endpoint_secret, bool(row.enabled)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    at: int
    duration_ms: int
    status_code: int | None
    error: str | None
    #: What happens next: DELIVERED, FAILED (give up) or PENDING (retry at `next_attempt_at`).
    outcome: DeliveryStatus
    next_attempt_at: int | None = None


def record_attempt(conn: Connection, delivery: DueDelivery, result: AttemptResult) -> bool:
    """Log the attempt and move the delivery on; False when another relay recorded this attempt."""
    number = delivery.attempts + 1
    d = webhook_deliveries
    values: dict[str, object] = {
        "attempts": number,
        "last_status_code": result.status_code,
        "last_error": result.error,
        "status": result.outcome.value,
    }
    if result.outcome is DeliveryStatus.PENDING:
        assert result.next_attempt_at is not None
        values["next_attempt_at"] = result.next_attempt_at
    else:
        values["finished_at"] = result.at
    moved = conn.execute(
        update(d)
        .where(
            d.c.organization_id == delivery.organization_id,
            d.c.id == delivery.id,
            d.c.attempts == delivery.attempts,
            d.c.status == DeliveryStatus.PENDING.value,
        )
        .values(**values)
    ).rowcount
    if not moved:
        return False
    _pass_turn(conn, delivery, result)
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        insert_(webhook_attempts)
        .values(
            organization_id=delivery.organization_id,
            delivery_id=delivery.id,
            attempt=number,
            at=result.at,
            status_code=result.status_code,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        .on_conflict_do_nothing()
    )
    return True


def _pass_turn(conn: Connection, delivery: DueDelivery, result: AttemptResult) -> None:
    """Move the deliveries waiting behind this one (`_waits_its_turn`) with it: while it is
    retried they are not due before it (the claim would otherwise read every one of them on each
    pass while an endpoint is down); once it is delivered or given up, the relays hear of it at
    commit (they would otherwise wait for their next poll to post what was waiting — due by then:
    this one was claimed at or after the time they were moved to)."""
    d, e, this = webhook_deliveries, webhook_events, webhook_events.alias("this_event")
    later = select(e.c.id).where(
        this.c.organization_id == delivery.organization_id,
        this.c.id == delivery.event_id,
        this.c.subject_kind != SubjectKind.ENDPOINT.value,
        e.c.organization_id == this.c.organization_id,
        e.c.subject_id == this.c.subject_id,
        tuple_(e.c.created_at, e.c.id) > tuple_(this.c.created_at, this.c.id),
    )
    waiting = (
        d.c.organization_id == delivery.organization_id,
        d.c.status == DeliveryStatus.PENDING.value,
        d.c.url == delivery.url,
        d.c.endpoint_id.is_not_distinct_from(delivery.endpoint_id),
        d.c.event_id.in_(later),
    )
    if result.outcome is DeliveryStatus.PENDING:
        assert result.next_attempt_at is not None
        retry_at = result.next_attempt_at
        conn.execute(
            update(d).where(*waiting, d.c.next_attempt_at < retry_at).values(next_attempt_at=retry_at)
        )
    elif conn.execute(select(d.c.id).where(*waiting).limit(1)).first() is not None:
        wrote_deliveries(conn)


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    at: int
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    id: str
    event_id: str
    event_type: str
    endpoint_id: str | None
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: int
    last_status_code: int | None
    last_error: str | None
    created_at: int
    log: list[Attempt] = field(default_factory=list)


def deliveries_about(conn: Connection, organization_id: str, subject_id: str) -> list[DeliveryLog]:
    """Every delivery of every event about one subject — a call, a campaign, or an endpoint (its
    test events) — oldest event first, with its attempts."""
    return _logs(conn, organization_id, webhook_events.c.subject_id == subject_id)


def get_delivery(conn: Connection, organization_id: str, delivery_id: str) -> DeliveryLog:
    found = _logs(conn, organization_id, webhook_deliveries.c.id == delivery_id)
    if not found:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    return found[0]


def redeliver(conn: Connection, organization_id: str, delivery_id: str, now: int) -> str:
    """A new delivery of a finished delivery's event to the same destination, due now.

    The event (its id, body and format) is the original's, so receivers can deduplicate; the new
    delivery starts the retry schedule afresh and the original keeps its log. Returns its id."""
    original = get_delivery(conn, organization_id, delivery_id)
    if original.status is DeliveryStatus.PENDING:
        raise Conflict(f"webhook delivery {delivery_id} is still pending: it is attempted again by itself")
    if original.endpoint_id is not None:
        endpoint = get_endpoint(conn, organization_id, original.endpoint_id)  # removed: 404
        if not endpoint.enabled:
            raise Conflict(f"webhook endpoint {endpoint.id} is disabled ({endpoint.disabled_reason})")
    new = new_id()
    wrote_deliveries(conn)  # due now: relays look at once, not at their next poll
    conn.execute(
        insert(webhook_deliveries).values(
            organization_id=organization_id,
            id=new,
            event_id=original.event_id,
            endpoint_id=original.endpoint_id,
            url=original.url,
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return new


def _logs(conn: Connection, organization_id: str, condition: Any) -> list[DeliveryLog]:
    d, e, a = webhook_deliveries, webhook_events, webhook_attempts
    rows = conn.execute(
        select(d, e.c.type)
        .join(e, (e.c.organization_id == d.c.organization_id) & (e.c.id == d.c.event_id))
        .where(e.c.organization_id == organization_id, condition)
        .order_by(e.c.created_at, e.c.id, d.c.created_at, d.c.id)
    ).all()
    out = []
    for r in rows:
        attempts = conn.execute(
            select(a)
            .where(a.c.organization_id == organization_id, a.c.delivery_id == r.id)
            .order_by(a.c.attempt)
        ).all()
        out.append(
            DeliveryLog(
                r.id,
                r.event_id,
                r.type,
                r.endpoint_id,
                r.url,
                DeliveryStatus(r.status),
                r.attempts,
                r.next_attempt_at,
                r.last_status_code,
                r.last_error,
                r.created_at,
                [Attempt(x.attempt, x.at, x.status_code, x.error, x.duration_ms) for x in attempts],
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class LoggedDelivery:
    id: str
    subject_kind: SubjectKind
    subject_id: str
    event_type: str
    url: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: int


def recent(
    conn: Connection,
    organization_id: str,
    *,
    limit: int,
    before: tuple[int, str] | None = None,
    status: DeliveryStatus | None = None,
) -> list[LoggedDelivery]:
    d, e = webhook_deliveries, webhook_events
    query = (
        select(d, e.c.type, e.c.subject_kind, e.c.subject_id)
        .join(e, (e.c.organization_id == d.c.organization_id) & (e.c.id == d.c.event_id))
        .where(d.c.organization_id == organization_id)
        .order_by(d.c.created_at.desc(), d.c.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(tuple_(d.c.created_at, d.c.id) < tuple_(*before))
    if status is not None:
        query = query.where(d.c.status == status.value)
    return [
        LoggedDelivery(
            r.id,
            SubjectKind(r.subject_kind),
            r.subject_id,
            r.type,
            r.url,
            DeliveryStatus(r.status),
            r.attempts,
            r.last_status_code,
            r.last_error,
            r.created_at,
        )
        for r in conn.execute(query)
    ]
