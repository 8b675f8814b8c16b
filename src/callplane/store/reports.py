"""Aggregates over a `CallQuery`'s calls: the dashboard's KPI strip and its analytics charts.

Every statement uses the list's own predicates (`predicates.filters`, routed like the list by
`listing.route`), so the numbers always describe exactly the calls the list shows.

`report` groups per UTC hour and status (the volume and cost over time, and the KPIs are their
sum), per agent and A/B variant, and per reason and sentiment (the breakdowns). Hours are UTC hour
numbers; the dashboard folds them into local hours or days — for a range of days in the database
(`starts`: the first UTC hour of each local day), so that a month comes back as ~30 rows a status
rather than ~720 to fold in Python.

A report over a period — the analytics page without other filters — is one statement (`_rolled`):
the rollups of ended calls for the whole hours and days inside it, and only the rest grouped from
`calls` (`store.rollups`), read once for the three groupings. With any other filter it is three
grouped statements over the matching calls, which
`ix_calls_report` (migration 0012) serves as one index range scan that never touches the wide
call rows. Either way the figures are the same (tests/store/test_reports.py checks them against
a count of the calls); bench/analytics_bench.py measures both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sqlalchemy import Connection, String, and_, case, cast, func, literal_column, select, union_all

from callplane.domain.call import CallStatus, DisconnectionReason, Sentiment
from callplane.domain.query import CallQuery, Range
from callplane.store import listing, predicates, rollups
from callplane.store.queue import LIVE
from callplane.store.schema import call_rollup_agents, call_rollup_outcomes, calls

HOUR_MS = rollups.HOUR_MS


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
    hour: int  #: UTC hour number: listed_at // HOUR_MS (folded: its bucket's first hour)
    status: CallStatus
    tally: Kpis


@dataclass(frozen=True, slots=True)
class AgentTally:
    agent_id: str
    variant_label: str | None
    tally: Kpis


@dataclass(frozen=True, slots=True)
class OutcomeTally:
    reason: DisconnectionReason | None
    sentiment: Sentiment | None
    tally: Kpis


@dataclass(frozen=True, slots=True)
class Report:
    hours: list[HourTally]
    agents: list[AgentTally]  #: per agent and A/B variant
    outcomes: list[OutcomeTally]  #: per disconnection reason and sentiment

    @property
    def kpis(self) -> Kpis:
        return sum((h.tally for h in self.hours), Kpis())


def _measures(c: Any = calls.c) -> list[Any]:
    """The sums of the rows whose columns are `c` (`calls`' own, or a subquery's of them)."""
    ended_talk = and_(c.answered_at.is_not(None), c.end_at.is_not(None))
    talk: Any = case((ended_talk, c.end_at - c.answered_at), else_=None)
    return [
        func.count(),
        func.count(c.start_at),
        func.count(c.answered_at),
        func.coalesce(func.sum(talk), 0),
        func.count(talk),
        func.coalesce(func.sum(c.cost_minor), 0),
    ]


#: What every aggregate sums (the `Kpis` fields, in order).
MEASURES = _measures()


def _where(conn: Connection, q: CallQuery) -> list[Any]:
    return predicates.filters(q, conn.dialect.name, listing.route(conn, q))


def _tally(values: Any) -> Kpis:
    return Kpis(*(int(v) for v in values))


def _statement(
    conn: Connection, q: CallQuery, dims: list[Any], rolled: Callable[[rollups.Interior], Any], size: int
) -> Any:
    """The measures per `dims` of `q`'s calls, in one statement (one snapshot): from the rollups
    and the calls they do not hold when they cover `q` (a key may come in several rows), else
    from the calls alone."""

    def grouped(part: CallQuery, *more: Any) -> Any:
        return select(*dims, *MEASURES).where(*_where(conn, part), *more).group_by(*dims)

    if not rollups.covers(q):
        return grouped(q)
    inside = rollups.interior(q.listed_at, size)
    rest = rollups.outside(q.listed_at, inside)
    parts = [rolled(inside), *(grouped(replace(q, listed_at=edge)) for edge in rest.edges)]
    if rest.inner is not None:
        joined = rollups.open_calls(_where(conn, replace(q, listed_at=rest.inner)), q)
        parts.append(select(*dims, *MEASURES).select_from(joined).group_by(*dims))
    return union_all(*parts)


def _grouped(rows: Iterable[Sequence[Any]], width: int) -> dict[tuple[Any, ...], Kpis]:
    sums: dict[tuple[Any, ...], list[int]] = {}
    for row in rows:
        # The rollups spell "none" '' (a key column is never NULL); `calls` spells it NULL.
        key = tuple(v if v != "" else None for v in row[:width])
        values = [int(v) for v in row[width:]]
        if key in sums:
            sums[key] = [a + b for a, b in zip(sums[key], values, strict=True)]
        else:
            sums[key] = values
    return {key: Kpis(*values) for key, values in sums.items()}


def _hour_statement(conn: Connection, q: CallQuery) -> Any:
    hour = calls.c.listed_at // HOUR_MS
    return _statement(conn, q, [hour, calls.c.status], partial(rollups.hour_rows, q), HOUR_MS)


def kpis(conn: Connection, q: CallQuery) -> Kpis:
    if not rollups.covers(q):
        return _tally(conn.execute(select(*MEASURES).where(*_where(conn, q))).one())
    # The hours' sums summed in the database: one row back, not one per hour.
    hours = _hour_statement(conn, q).subquery()
    measures = list(hours.c)[2:]  # after the hour and the status
    return _tally(conn.execute(select(*(func.coalesce(func.sum(m), 0) for m in measures))).one())


def report(conn: Connection, q: CallQuery, starts: Sequence[int] | None = None) -> Report:
    """`q`'s report; with `starts` (ascending UTC hour numbers) its hours folded into the buckets
    beginning there, each tally's hour its bucket's first (`rollups.folded`)."""
    if rollups.covers(q):
        rows = conn.execute(_rolled(conn, q, starts)).all()
        # The hour came as text (`_kind`).
        by_hour = _grouped([(int(r[1]), *r[2:]) for r in rows if r[0] == "h"], 2)
        by_agent = _grouped([r[1:] for r in rows if r[0] == "a"], 2)
        by_outcome = _grouped([r[1:] for r in rows if r[0] == "o"], 2)
    else:
        dims = ([calls.c[d] for d in rollups.AGENT], [calls.c[d] for d in rollups.OUTCOME])
        hour = rollups.folded(calls.c.listed_at // HOUR_MS, starts)
        by_hour = _grouped(conn.execute(_grouped_calls(conn, q, [hour, calls.c.status])), 2)
        by_agent = _grouped(conn.execute(_grouped_calls(conn, q, dims[0])), 2)
        by_outcome = _grouped(conn.execute(_grouped_calls(conn, q, dims[1])), 2)
    return Report(
        hours=[HourTally(int(h), CallStatus(s), k) for (h, s), k in sorted(by_hour.items())],
        agents=[AgentTally(a, v, k) for (a, v), k in sorted(by_agent.items(), key=_order)],
        outcomes=[
            OutcomeTally(DisconnectionReason(r) if r else None, Sentiment(s) if s else None, k)
            for (r, s), k in sorted(by_outcome.items(), key=_order)
        ],
    )


def _grouped_calls(conn: Connection, q: CallQuery, dims: list[Any]) -> Any:
    return select(*dims, *MEASURES).where(*_where(conn, q)).group_by(*dims)


#: What a call row gives a report: its keys and the inputs of the sums.
_KEPT = (
    "listed_at",
    "status",
    "agent_id",
    "variant_label",
    "disconnection_reason",
    "user_sentiment",
    "start_at",
    "answered_at",
    "end_at",
    "cost_minor",
)


def _rolled(conn: Connection, q: CallQuery, starts: Sequence[int] | None) -> Any:
    """The whole report of a period, in one statement (one snapshot), as rows (kind, key, key,
    *measures) — kind 'h' (hour or bucket, status), 'a' (agent, variant), 'o' (reason,
    sentiment); a key may come in several rows. Each grouping is its rollup's whole buckets plus
    the calls they do not hold (`rollups.outside`): the range's partial hours or days, and the
    open calls of the whole ones. Those calls are read once for all three groupings — the open
    calls of the whole hours (a superset of the whole days'), and the partial days' calls, each
    a materialised CTE — where three statements read them three times (on PostgreSQL the open
    calls' row reads were most of a report's time)."""
    kept = [calls.c[c] for c in _KEPT]

    def rows(span: Range) -> Any:
        return select(*kept).where(*_where(conn, replace(q, listed_at=span)))

    hours_in = rollups.interior(q.listed_at, HOUR_MS)
    days_in = rollups.interior(q.listed_at, rollups.DAY_MS)
    hour_rest = rollups.outside(q.listed_at, hours_in)
    day_rest = rollups.outside(q.listed_at, days_in)
    opened = None
    if hour_rest.inner is not None:
        inner = _where(conn, replace(q, listed_at=hour_rest.inner))
        joined = rollups.open_calls(inner, q)
        opened = select(*kept).select_from(joined).cte("opened").prefix_with("MATERIALIZED")
    hour_loose = [rows(edge) for edge in hour_rest.edges]
    day_loose = [rows(edge) for edge in day_rest.edges]
    if opened is not None:
        hour_loose.append(select(opened))
        if day_rest.inner is not None:
            low, high = day_rest.inner.low, day_rest.inner.high
            in_days = [opened.c.listed_at >= low] + ([opened.c.listed_at <= high] if high is not None else [])
            day_loose.append(select(opened).where(*in_days))
    parts = [_kind("h", rollups.hour_rows(q, hours_in, starts))]
    if hour_loose:
        loose = union_all(*hour_loose).subquery("hour_loose")
        bucket = rollups.folded(loose.c.listed_at // HOUR_MS, starts)
        parts.append(
            _kind("h", select(bucket, loose.c.status, *_measures(loose.c)).group_by(bucket, loose.c.status))
        )
    days = union_all(*day_loose).cte("day_loose").prefix_with("MATERIALIZED") if day_loose else None
    for kind, table, dims in (
        ("a", call_rollup_agents, rollups.AGENT),
        ("o", call_rollup_outcomes, rollups.OUTCOME),
    ):
        parts.append(_kind(kind, rollups.day_rows(table, dims, q, days_in)))
        if days is not None:
            keys = [days.c[d] for d in dims]
            parts.append(_kind(kind, select(*keys, *_measures(days.c)).group_by(*keys)))
    return union_all(*parts)


def _kind(kind: str, grouped: Any) -> Any:
    """`grouped`'s rows behind their kind, the first key as text (a union's column has one type:
    an hour number beside agent ids)."""
    columns = list(grouped.selected_columns)
    tag = literal_column(f"'{kind}'", String)  # a constant of ours: no parameter to type
    return grouped.with_only_columns(tag, cast(columns[0], String), *columns[1:])


def _order(item: tuple[tuple[Any, ...], Kpis]) -> tuple[str, ...]:
    return tuple(v or "" for v in item[0])


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
