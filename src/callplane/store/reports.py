"""Aggregates over a `CallQuery`'s calls: the dashboard's KPI strip and its analytics charts.

Every statement uses the list's own predicates (`predicates.filters`, routed like the list by
`listing.route`), so the numbers always describe exactly the calls the list shows. They read
only `ix_calls_report` (migration 0010): the organisation and start time lead it, and it holds
every column an aggregate reads, so a range of a large organisation is one index range scan
that never touches the wide call rows (transcripts, metadata) — see bench/analytics_bench.py.

`report` is two grouped statements: per UTC hour and status (the volume and cost over time, and
the KPIs are their sum), and per agent, A/B variant, reason and sentiment (the breakdowns).
Hours are UTC hour numbers; the dashboard folds them into local hours or days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, case, func, select

from callplane.domain.call import CallStatus, DisconnectionReason, Sentiment
from callplane.domain.query import CallQuery
from callplane.store import listing, predicates
from callplane.store.queue import LIVE
from callplane.store.schema import calls

HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Kpis:
    calls: int = 0
    dialled: int = 0  #: reached the carrier (has a start time)
    connected: int = 0  #: answered by the callee
    talk_ms: int = 0  #: answered to end, over the connected calls that ended
    talked: int = 0  #: connected calls that have ended (the average's denominator)
    cost_minor: int = 0

    @property
    def connect_rate(self) -> float | None:
        return self.connected / self.dialled if self.dialled else None

    @property
    def average_talk_ms(self) -> int | None:
        return self.talk_ms // self.talked if self.talked else None

    def __add__(self, other: Kpis) -> Kpis:
        return Kpis(
            self.calls + other.calls,
            self.dialled + other.dialled,
            self.connected + other.connected,
            self.talk_ms + other.talk_ms,
            self.talked + other.talked,
            self.cost_minor + other.cost_minor,
        )


@dataclass(frozen=True, slots=True)
class HourTally:
    hour: int  #: UTC hour number: listed_at // HOUR_MS
    status: CallStatus
    tally: Kpis


@dataclass(frozen=True, slots=True)
class MixTally:
    agent_id: str
    variant_label: str | None
    reason: DisconnectionReason | None
    sentiment: Sentiment | None
    tally: Kpis


@dataclass(frozen=True, slots=True)
class Report:
    hours: list[HourTally]
    mix: list[MixTally]

    @property
    def kpis(self) -> Kpis:
        return sum((h.tally for h in self.hours), Kpis())


def _measures() -> list[Any]:
    ended_talk = and_(calls.c.answered_at.is_not(None), calls.c.end_at.is_not(None))
    talk: Any = case((ended_talk, calls.c.end_at - calls.c.answered_at), else_=None)
    return [
        func.count(),
        func.count(calls.c.start_at),
        func.count(calls.c.answered_at),
        func.coalesce(func.sum(talk), 0),
        func.count(talk),
        func.coalesce(func.sum(calls.c.cost_minor), 0),
    ]


def _where(conn: Connection, q: CallQuery) -> list[Any]:
    return predicates.filters(q, conn.dialect.name, listing.route(conn, q))


def _tally(values: Any) -> Kpis:
    return Kpis(*(int(v) for v in values))


def kpis(conn: Connection, q: CallQuery) -> Kpis:
    return _tally(conn.execute(select(*_measures()).where(*_where(conn, q))).one())


def report(conn: Connection, q: CallQuery) -> Report:
    where = _where(conn, q)
    hour = (calls.c.listed_at // HOUR_MS).label("hour")
    by_hour = conn.execute(
        select(hour, calls.c.status, *_measures()).where(*where).group_by(hour, calls.c.status)
    ).all()
    dims = (calls.c.agent_id, calls.c.variant_label, calls.c.disconnection_reason, calls.c.user_sentiment)
    by_mix = conn.execute(select(*dims, *_measures()).where(*where).group_by(*dims)).all()
    return Report(
        hours=[HourTally(int(r[0]), CallStatus(r[1]), _tally(r[2:])) for r in by_hour],
        mix=[
            MixTally(
                r[0],
                r[1],
                DisconnectionReason(r[2]) if r[2] else None,
                Sentiment(r[3]) if r[3] else None,
                _tally(r[4:]),
            )
            for r in by_mix
        ],
    )


@dataclass(frozen=True, slots=True)
class Activity:
    live: int  #: calls holding a line (dialing, ringing, ongoing)
    queued_due: int  #: queued calls whose due time has come


def activity_by_organization(conn: Connection, now: int) -> dict[str, Activity]:
    """Every organisation's live and due calls (the operator's view): two aggregates over the
    partial indexes of the live set and the queue, cheap however many calls have ended."""
    live: dict[str, int] = dict(
        conn.execute(
            select(calls.c.organization_id, func.count())
            .where(calls.c.status.in_(LIVE))
            .group_by(calls.c.organization_id)
        ).all()
    )
    due: dict[str, int] = dict(
        conn.execute(
            select(calls.c.organization_id, func.count())
            .where(calls.c.status == CallStatus.QUEUED.value, calls.c.due_at <= now)
            .group_by(calls.c.organization_id)
        ).all()
    )
    return {org: Activity(live.get(org, 0), due.get(org, 0)) for org in {*live, *due}}
