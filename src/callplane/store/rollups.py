"""Sums of ended calls, kept as calls end, so that a month of analytics reads a few thousand rows.

Grouping a range of calls costs a read per call: 30 days of the largest organisation of the 1M
bench set are ~45,000 calls, and grouping them took 190–300 ms (bench/analytics.md), over the
dashboard's 100 ms. So calls in a terminal status are summed, by triggers on `calls` (migration
0017), into two tables:

- `call_rollup_hours`: per organisation, UTC hour of `listed_at` and status — the time charts and
  the KPI strip (30 days: at most 720 hours × the statuses seen);
- `call_rollup_agents` (per UTC day, agent and A/B variant) and `call_rollup_outcomes` (per UTC
  day, disconnection reason and sentiment) — the breakdowns. Two narrow tables, not one of all
  four: the largest bench organisation has 94 agents, and their product with reasons and
  sentiments is nearly a row per call, while each table alone is a few thousand rows a month.

Exact, not eventually right: the triggers run in the transaction that changes the call, so a
call entering or leaving a terminal status, changing a summed or grouped column after its end
(post-call analysis), inserted backdated or deleted, moves its contribution in the same commit.
The cost is one or two row upserts per table when a call ends or is analysed (none while it is
queued or live). On PostgreSQL the row trigger only appends the call's contribution to
`call_rollup_pending`, and a trigger deferred to the commit folds the transaction's contributions
into the three tables, their keys in one order (migration 0021): two transactions ending calls of
the same hours in opposite orders then wait for each other's commit, as before, but can no longer
deadlock (each held the row of its first call while asking for the other's).

A report range rarely falls on bucket edges (the dashboard's days are local days: in Seoul they
start at 15:00 UTC), so a report is, in one statement: the rollup rows of the whole buckets inside
the range (`interior`), plus the calls of the range outside them and the calls inside them that
are not terminal yet, grouped from `calls` itself. The edges are at most two partial buckets — for
the breakdowns up to two partial UTC days (in Seoul 15 + 9 hours: one day of calls) — so any time
zone, half-hour ones included, stays exact; only the share read from `calls` grows with how far
the range's ends are from UTC bucket edges.

Only a range can be answered from the rollups (`covers`); a report with any other filter (status,
agent, reason, numbers, metadata, search…) groups the matching calls directly — an index range of
the filtered calls, so its cost grows with how many calls match: the analytics page's agent
filter on the busiest agent of the largest bench organisation is measured in bench/analytics.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, Table, and_, case, func, literal_column, select

from callplane.domain.call import TERMINAL_STATUSES, CallStatus
from callplane.domain.query import CallQuery, Range
from callplane.store import listing
from callplane.store.schema import call_rollup_hours, calls

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MEASURES = ("calls", "dialled", "connected", "talk_ms", "talked", "cost_minor")
#: The statuses not in the rollups: a report reads these calls from `calls`.
OPEN = tuple(s.value for s in CallStatus if s not in TERMINAL_STATUSES)


def covers(q: CallQuery) -> bool:
    """Whether the rollups answer `q`'s report: it filters by `listed_at` alone."""
    return listing.filters_only(q, listed_at=q.listed_at)


@dataclass(frozen=True, slots=True)
class Interior:
    """The whole buckets inside a range: bucket numbers `first` to `end` (exclusive, None:
    unbounded), and the instants they span."""

    first: int
    end: int | None
    size: int

    @property
    def low(self) -> int:
        return self.first * self.size

    @property
    def high(self) -> int | None:
        return None if self.end is None else self.end * self.size


def interior(span: Range, size: int) -> Interior:
    first = 0 if span.low is None else -(-span.low // size)
    end = None if span.high is None else (span.high + 1) // size
    if end is not None and end < first:
        end = first  # no whole bucket: the rollups read nothing, `calls` everything
    return Interior(first, end, size)


@dataclass(frozen=True, slots=True)
class Outside:
    """What `calls` must still supply for a range: its ends before and after the whole buckets
    (`edges`, each an index range of `ix_calls_report`), and the open calls of the whole buckets
    (`inner`: their span; None when there is no whole bucket)."""

    edges: list[Range]
    inner: Range | None


def outside(span: Range, inside: Interior) -> Outside:
    """Each part is a range of its own, not the report's range with one more bound: given both,
    SQLite bounds its index scan by one pair of them — the report's — and filters the rest, so
    an edge of a few hours (or none) read the whole month (5 ms of nothing per edge at 26,000
    calls in the range)."""
    edges = []
    if span.low is not None and span.low < inside.low:  # open: the buckets start at 0
        edges.append(Range(span.low, _lower(span.high, inside.low - 1)))
    if inside.high is not None and (span.high is None or inside.high <= span.high):
        edges.append(Range(max(inside.high, span.low or 0), span.high))
    whole = inside.high is None or inside.high > inside.low
    inner = Range(inside.low, None if inside.high is None else inside.high - 1) if whole else None
    return Outside(edges, inner)


def _lower(a: int | None, b: int) -> int:
    return b if a is None else min(a, b)


def open_calls(where: list[Any], q: CallQuery) -> Any:
    """The open calls among those `where` selects (the whole buckets' span), as a join of their
    ids to their rows: a range of `ix_calls_status`, then a row read each (they are few). Asked
    directly, SQLite prefers the covering `ix_calls_report` and reads the whole range; asked as
    `id IN (…)`, an index that hands the rows over in a group's order (all the organisation's
    calls through `ix_calls_agent`). Joined from the ids, the ids come first."""
    open_ids = select(calls.c.id).where(*where, calls.c.status.in_(OPEN)).subquery("open_calls")
    by_id = and_(calls.c.organization_id == q.organization_id, calls.c.id == open_ids.c.id)
    return open_ids.join(calls, by_id)


def _where(table: Table, bucket: str, q: CallQuery, inside: Interior) -> list[Any]:
    where = [table.c.organization_id == q.organization_id, table.c[bucket] >= inside.first]
    if inside.end is not None:
        where.append(table.c[bucket] < inside.end)
    return where


def verdict_sums(q: CallQuery, inside: Interior) -> Any:
    """(successful, judged) of the whole hours' ended calls (migration 0019)."""
    t = call_rollup_hours
    return select(func.sum(t.c.successful), func.sum(t.c.judged)).where(*_where(t, "hour", q, inside))


def folded(hour: ColumnElement[Any], starts: Sequence[int] | None) -> ColumnElement[Any]:
    """`hour` (a UTC hour number) as the first hour of its bucket, the buckets starting at
    `starts` (ascending; hours before the first fold into it); `hour` itself when None. The
    starts are inlined: they are integers, and PostgreSQL then needs no parameter types."""
    if not starts:
        return hour
    at = [literal_column(str(int(s)), BigInteger) for s in starts]
    # One bucket is still a CASE, not the bare number: SQLite reads an integer in GROUP BY as a
    # column's position.
    whens = [(hour < at[i + 1], at[i]) for i in range(len(at) - 1)] or [(hour < at[0], at[0])]
    return case(*whens, else_=at[-1])


def hour_rows(q: CallQuery, inside: Interior, starts: Sequence[int] | None = None) -> Any:
    """(hour, status, *measures) of the whole hours — with `starts`, summed per bucket (`folded`):
    a month of local days is ~30 rows a status instead of ~720."""
    t = call_rollup_hours
    if starts:
        bucket = folded(t.c.hour, starts)
        return (
            select(bucket, t.c.status, *(func.sum(t.c[m]) for m in MEASURES))
            .where(*_where(t, "hour", q, inside))
            .group_by(bucket, t.c.status)
            .having(func.sum(t.c.calls) > 0)
        )
    return select(t.c.hour, t.c.status, *(t.c[m] for m in MEASURES)).where(
        *_where(t, "hour", q, inside), t.c.calls > 0
    )


AGENT = ("agent_id", "variant_label")
OUTCOME = ("disconnection_reason", "user_sentiment")


def day_rows(table: Table, dims: tuple[str, ...], q: CallQuery, inside: Interior) -> Any:
    """(*dims, *measures) of the whole days, summed over them ('' = none)."""
    columns = [table.c[d] for d in dims]
    return (
        select(*columns, *(func.sum(table.c[m]) for m in MEASURES))
        .where(*_where(table, "day", q, inside))
        .group_by(*columns)
        .having(func.sum(table.c.calls) > 0)
    )
