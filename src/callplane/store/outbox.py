"""Webhook endpoints and the transactional outbox: events and the deliveries they start with.

An event row and one delivery row per destination are inserted by the caller in the same
transaction as the status change that causes the event, so an event exists if and only if the
change committed. What happens to a delivery after that — the relay's claim, its attempts, the
logs and redelivery — is `store.deliveries`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Table,
    bindparam,
    delete,
    event,
    func,
    insert,
    select,
    update,
)

from callplane.domain.errors import NotFound
from callplane.domain.ids import new_id
from callplane.store.db import Database
from callplane.store.prepared import Prepared, param
from callplane.store.schema import (
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
    webhook_signing_secrets,
)

#: Marks a connection (its pool record's `info`, which outlives the checkout) that wrote events.
_WROTE_EVENTS = "callplane.outbox.wrote_events"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  #: gave up: retries exhausted, refused destination, endpoint gone or 410


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    organization_id: str
    url: str
    events: list[str]
    agent_id: str | None
    description: str
    enabled: bool
    created_at: int
    disabled_reason: str | None = None
    format: str = "vox"  #: the payload format it receives (`engine/services/webhook_formats.py`)


def _endpoint(r: Any) -> Endpoint:
    return Endpoint(
        r.id,
        r.organization_id,
        r.url,
        list(r.events),
        r.agent_id,
        r.description,
        bool(r.enabled),
        r.created_at,
        r.disabled_reason,
        r.format,
    )


def create_endpoint(
    conn: Connection,
    organization_id: str,
    *,
    url: str,
    secret: str,
    events: Sequence[str],
    agent_id: str | None,
    description: str,
    now: int,
    format: str = "vox",
) -> Endpoint:
    endpoint = Endpoint(
        new_id(), organization_id, url, list(events), agent_id, description, True, now, format=format
    )
    conn.execute(
        insert(webhook_endpoints).values(
            organization_id=organization_id,
            id=endpoint.id,
            url=url,
            secret=secret,
            events=list(events),
            agent_id=agent_id,
            description=description,
            enabled=True,
            created_at=now,
            format=format,
        )
    )
    return endpoint


def get_endpoint(conn: Connection, organization_id: str, endpoint_id: str) -> Endpoint:
    row = conn.execute(
        select(webhook_endpoints).where(
            webhook_endpoints.c.organization_id == organization_id, webhook_endpoints.c.id == endpoint_id
        )
    ).first()
    if row is None:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    return _endpoint(row)


def list_endpoints(conn: Connection, organization_id: str) -> list[Endpoint]:
    rows = conn.execute(
        select(webhook_endpoints)
        .where(webhook_endpoints.c.organization_id == organization_id)
        .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
    ).all()
    return [_endpoint(r) for r in rows]


def remove_endpoint(conn: Connection, organization_id: str, endpoint_id: str, now: int) -> None:
    """Delete an endpoint; its pending deliveries fail with a clear error instead of lingering."""
    result = conn.execute(
        delete(webhook_endpoints).where(
            webhook_endpoints.c.organization_id == organization_id, webhook_endpoints.c.id == endpoint_id
        )
    )
    if not result.rowcount:
        raise NotFound(f"webhook endpoint {endpoint_id} not found")
    conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.organization_id == organization_id,
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        .values(status=DeliveryStatus.FAILED.value, last_error="endpoint removed", finished_at=now)
    )


def disable_endpoint(conn: Connection, organization_id: str, endpoint_id: str, reason: str) -> None:
    conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.organization_id == organization_id, webhook_endpoints.c.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason)
    )


def signing_secret(conn: Connection, organization_id: str) -> str | None:
    row = conn.execute(
        select(webhook_signing_secrets.c.secret).where(
            webhook_signing_secrets.c.organization_id == organization_id
        )
    ).first()
    return row.secret if row is not None else None


def set_signing_secret(conn: Connection, organization_id: str, secret: str, now: int) -> None:
    conn.execute(
        delete(webhook_signing_secrets).where(webhook_signing_secrets.c.organization_id == organization_id)
    )
    conn.execute(
        insert(webhook_signing_secrets).values(organization_id=organization_id, secret=secret, created_at=now)
    )


def destinations(conn: Connection, organization_id: str, agent_id: str, event_type: str) -> list[Endpoint]:
    """Enabled endpoints that want this event for this agent's calls."""
    return wanting(enabled_endpoints(conn, organization_id), agent_id, event_type)


def enabled_endpoints(conn: Connection, organization_id: str) -> list[Endpoint]:
    return [_endpoint(r) for r in conn.execute(_ENABLED, {"o": organization_id})]


#: Built once: read for every webhook event a call's change writes.
_ENABLED = select(webhook_endpoints).where(
    webhook_endpoints.c.organization_id == bindparam("o", type_=webhook_endpoints.c.organization_id.type),
    webhook_endpoints.c.enabled.is_(True),
)


def wanting(found: Sequence[Endpoint], agent_id: str, event_type: str) -> list[Endpoint]:
    """Those of `found` that want this event for this agent's calls."""
    return [e for e in found if event_type in e.events and e.agent_id in (None, agent_id)]


def enabled_ids(organization_id: ColumnElement[str]) -> ColumnElement[str | None]:
    """The ids of the organisation's enabled webhook endpoints, comma-separated (NULL: none), as
    an SQL expression: a status change asks it in its own statement (`UPDATE … RETURNING`,
    `store.calls.move_announcing`), so an event of an organisation without endpoints costs no
    lookup, and one with endpoints finds them by this stamp (`endpoints_of`)."""
    return (
        select(func.aggregate_strings(webhook_endpoints.c.id, ","))
        .where(webhook_endpoints.c.organization_id == organization_id, webhook_endpoints.c.enabled.is_(True))
        .scalar_subquery()
    )


def endpoints_of(conn: Connection, organization_id: str, ids: str | None) -> tuple[Endpoint, ...]:
    """The enabled endpoints a change saw (`enabled_ids`), read once per process for each set.

    Endpoints are never edited, only created, disabled or removed, so the set of enabled ids
    names the endpoints completely: an endpoint added or disabled changes the stamp that the
    next change returns, and that event reads the new set (the same destinations as reading them
    in each event's transaction, without the read; were endpoints ever made editable, the stamp
    would have to carry their version). A set read differently from the stamp (an
    endpoint removed or disabled in between, PostgreSQL's read committed) is used for this event
    and not remembered."""
    if not ids:
        return ()
    key = (organization_id, ids)
    found = _ENDPOINTS.get(key)
    if found is not None:
        return found
    wanted = set(ids.split(","))
    found = tuple(e for e in enabled_endpoints(conn, organization_id) if e.id in wanted)
    if len(found) == len(wanted):
        if len(_ENDPOINTS) >= _ENDPOINT_SETS:
            _ENDPOINTS.clear()  # bounded like `engine.memo.Memo`: cheap to read again
        _ENDPOINTS[key] = found
    return found


#: (organisation, enabled ids) → those endpoints; see `endpoints_of`.
_ENDPOINTS: dict[tuple[str, str], tuple[Endpoint, ...]] = {}
_ENDPOINT_SETS = 10_000


class SubjectKind(enum.StrEnum):
    """What an event is about (migration 0018)."""

    CALL = "call"
    CAMPAIGN = "campaign"
    ENDPOINT = "endpoint"  #: a test event sent to an endpoint on request


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    id: str


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    endpoint_id: str | None  #: None: the agent version's webhook_url
    format: str = "vox"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to write (`add_events`): its body rendered in `format`, for `targets` (all of
    that format)."""

    event_id: str
    subject: Subject
    event_type: str
    body: str
    targets: Sequence[Target]
    format: str = "vox"


def add_event(
    conn: Connection,
    organization_id: str,
    *,
    event_id: str,
    subject: Subject,
    event_type: str,
    body: str,
    now: int,
    targets: Sequence[Target],
    format: str = "vox",
) -> list[str]:
    """One event, its body rendered in `format`, and a delivery to each target (all of that
    format); returns the deliveries' ids."""
    return add_events(
        conn, organization_id, [NewEvent(event_id, subject, event_type, body, targets, format)], now
    )


def add_events(conn: Connection, organization_id: str, events: Sequence[NewEvent], now: int) -> list[str]:
    """Events, in order, each with a delivery to each of its targets; returns the deliveries' ids.

    The worker writes two or three events per call: all of a change's events and deliveries go
    in one prepared statement on PostgreSQL (the events' INSERT a CTE of the deliveries'), two
    on SQLite (one multi-row INSERT each), not two statements per event."""
    if not events:
        return []
    wrote_deliveries(conn)
    params: dict[str, Any] = {
        "o": organization_id,
        "now": now,
        "pending": DeliveryStatus.PENDING.value,
        "zero": 0,
    }
    ids: list[str] = []
    for i, e in enumerate(events):
        subject = e.subject
        params.update(
            {
                f"e{i}": e.event_id,
                f"e{i}_call": subject.id if subject.kind is SubjectKind.CALL else None,
                f"e{i}_kind": subject.kind.value,
                f"e{i}_subject": subject.id,
                f"e{i}_type": e.event_type,
                f"e{i}_body": e.body,
                f"e{i}_format": e.format,
            }
        )
        for target in e.targets:
            n = len(ids)
            ids.append(new_id())
            params.update(
                {
                    f"d{n}": ids[-1],
                    f"d{n}_event": e.event_id,
                    f"d{n}_endpoint": target.endpoint_id,
                    f"d{n}_url": target.url,
                }
            )
    if conn.dialect.name == "postgresql":
        _inserts(len(events), len(ids)).execute(conn, params)
    else:
        _inserts(len(events), 0).execute(conn, params)
        if ids:
            _inserts(0, len(ids)).execute(conn, params)
    return ids


#: (events, deliveries) → the prepared INSERT of that many rows (both: PostgreSQL's CTE).
_INSERTS: dict[tuple[int, int], Prepared] = {}


def _inserts(n_events: int, n_deliveries: int) -> Prepared:
    shape = (n_events, n_deliveries)
    found = _INSERTS.get(shape)
    if found is not None:
        return found
    e, d = webhook_events, webhook_deliveries

    def p(table: Table, column: str, name: str) -> Any:
        return param(name, table.c[column].type)

    def events_rows() -> list[dict[str, Any]]:
        return [
            {
                "organization_id": p(e, "organization_id", "o"),
                "id": p(e, "id", f"e{i}"),
                "call_id": p(e, "call_id", f"e{i}_call"),
                "subject_kind": p(e, "subject_kind", f"e{i}_kind"),
                "subject_id": p(e, "subject_id", f"e{i}_subject"),
                "type": p(e, "type", f"e{i}_type"),
                "body": p(e, "body", f"e{i}_body"),
                "created_at": p(e, "created_at", "now"),
                "format": p(e, "format", f"e{i}_format"),
            }
            for i in range(n_events)
        ]

    def deliveries_rows() -> list[dict[str, Any]]:
        return [
            {
                "organization_id": p(d, "organization_id", "o"),
                "id": p(d, "id", f"d{n}"),
                "event_id": p(d, "event_id", f"d{n}_event"),
                "endpoint_id": p(d, "endpoint_id", f"d{n}_endpoint"),
                "url": p(d, "url", f"d{n}_url"),
                "status": p(d, "status", "pending"),
                "attempts": p(d, "attempts", "zero"),
                "next_attempt_at": p(d, "next_attempt_at", "now"),
                "created_at": p(d, "created_at", "now"),
            }
            for n in range(n_deliveries)
        ]

    def build(_dialect: str) -> Any:
        if n_events and n_deliveries:
            # PostgreSQL: the events' INSERT as a CTE of the deliveries' — one statement.
            return (
                insert(d).values(deliveries_rows()).add_cte(insert(e).values(events_rows()).cte("new_events"))
            )
        if n_events:
            return insert(e).values(events_rows())
        return insert(d).values(deliveries_rows())

    prepared = _INSERTS[shape] = Prepared(build)
    return prepared


def wrote_deliveries(conn: Connection) -> None:
    """Note that `conn`'s transaction made deliveries due (events, a redelivery): relays hear of
    it once it commits (`on_events_committed`)."""
    conn.info[_WROTE_EVENTS] = True


def on_events_committed(db: Database, callback: Callable[[], None]) -> Callable[[], None]:
    """Call `callback` (in the writing thread) each time a connection of `db` that wrote events
    goes back to its pool, i.e. after its transaction committed: a relay in this process
    delivers them now instead of at its next poll. A rolled-back write calls it too (a look for
    nothing, harmless). Returns the function that stops the calls."""

    def checkin(_dbapi_conn: Any, record: Any) -> None:
        if record.info.pop(_WROTE_EVENTS, False):
            callback()

    event.listen(db.engine, "checkin", checkin)
    return lambda: event.remove(db.engine, "checkin", checkin)


def event_types_for_call(conn: Connection, organization_id: str, call_id: str) -> list[str]:
    rows = conn.execute(
        select(webhook_events.c.type)
        .where(webhook_events.c.organization_id == organization_id, webhook_events.c.call_id == call_id)
        .order_by(webhook_events.c.created_at, webhook_events.c.id)
    ).all()
    return [r.type for r in rows]
