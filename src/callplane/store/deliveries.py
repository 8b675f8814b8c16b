"""An organisation's webhook deliveries, newest first: the dashboard's delivery log.

Keyset pages on `ix_webhook_deliveries_created` (migration 0010); each row names its event's
type and subject (a call, a campaign, or the endpoint a test event went to). The attempts of a
call's deliveries are on its call's page (`outbox.deliveries_about`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, tuple_

from callplane.store.outbox import DeliveryStatus, SubjectKind
from callplane.store.schema import webhook_deliveries, webhook_events


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
