"""Deployment-wide figures for `/metrics` and `/readyz`: the queue, the live calls, stuck leases.

Each is one aggregate over a partial index (`ix_calls_queue`: queued calls; `ix_calls_live`: live
ones), so a scrape stays cheap however many finished calls the table holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from callplane.domain.call import CallStatus
from callplane.store.queue import LIVE
from callplane.store.schema import calls


@dataclass(frozen=True, slots=True)
class QueueGauges:
    due: int  #: queued calls whose due time has come (waiting for a worker, a slot or the window)
    oldest_due_at: int | None  #: the earliest due time among them (Unix ms)
    live: dict[str, int]  #: live calls by status (dialing, ringing, ongoing)
    stuck: int  #: live calls whose lease ran out `stuck_after_ms` ago or more and are not reaped
    stuck_owners: list[str]  #: the workers that held them (at most 20)


def queue_gauges(conn: Connection, now: int, stuck_after_ms: int) -> QueueGauges:
    due, oldest = conn.execute(
        select(func.count(), func.min(calls.c.due_at)).where(
            calls.c.status == CallStatus.QUEUED.value, calls.c.due_at <= now
        )
    ).one()
    live: dict[str, int] = dict(
        conn.execute(
            select(calls.c.status, func.count()).where(calls.c.status.in_(LIVE)).group_by(calls.c.status)
        ).all()
    )
    stuck_rows = conn.execute(
        select(calls.c.lease_owner, func.count())
        .where(calls.c.status.in_(LIVE), calls.c.lease_expires_at < now - stuck_after_ms)
        .group_by(calls.c.lease_owner)
    ).all()
    return QueueGauges(
        due=due,
        oldest_due_at=oldest,
        live={s: live.get(s, 0) for s in LIVE},
        stuck=sum(count for _owner, count in stuck_rows),
        stuck_owners=sorted(owner or "?" for owner, _count in stuck_rows)[:20],
    )
