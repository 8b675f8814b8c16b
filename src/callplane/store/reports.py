"""Aggregates over a `CallQuery`'s calls: the dashboard's KPI strip.

One aggregate statement with the list's own predicates (`predicates.filters`, routed like the
list by `listing.route`), so the numbers always describe exactly the calls the list shows.
It reads every matching row; the analytics work of issue 13 (rollups that stay fast at 1M
calls) will replace the body, not the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from callplane.domain.query import CallQuery
from callplane.store import listing, predicates
from callplane.store.schema import calls


@dataclass(frozen=True, slots=True)
class Kpis:
    calls: int
    dialled: int  #: reached the carrier (has a start time)
    connected: int  #: answered by the callee
    talk_ms: int  #: answered to end, over the connected calls that ended
    talked: int  #: connected calls that have ended (the average's denominator)
    cost_minor: int

    @property
    def connect_rate(self) -> float | None:
        return self.connected / self.dialled if self.dialled else None

    @property
    def average_talk_ms(self) -> int | None:
        return self.talk_ms // self.talked if self.talked else None


def kpis(conn: Connection, q: CallQuery) -> Kpis:
    where = predicates.filters(q, conn.dialect.name, listing.route(conn, q))
    ended_talk = and_(calls.c.answered_at.is_not(None), calls.c.end_at.is_not(None))
    talk: Any = case((ended_talk, calls.c.end_at - calls.c.answered_at), else_=None)
    row = conn.execute(
        select(
            func.count(),
            func.count(calls.c.start_at),
            func.count(calls.c.answered_at),
            func.coalesce(func.sum(talk), 0),
            func.count(talk),
            func.coalesce(func.sum(calls.c.cost_minor), 0),
        ).where(*where)
    ).one()
    return Kpis(*(int(value) for value in row))
