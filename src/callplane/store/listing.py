"""`CallQuery` → a page of calls and an honest total: the one query path every list endpoint uses.

The predicates and order are built in `store.predicates`; this module chooses how to run the
selective ones (`route`), fetches the page and counts.

A nullable sort column (`end_at`, `duration_ms`) is read in two segments — known values in
order, then unknown values by id — so both use the same b-tree and "unknown" sorts last in
either direction on both databases.

`total_count` is honest and bounded: count up to `COUNT_CAP + 1` matches within a time budget:
the page's own time, clamped to [floor, ceiling]. Past the cap, or past the budget, the total is
an estimate and says so (`Total.exact` is False): PostgreSQL's planner estimate when that is
larger than what was counted, on SQLite the rows a staged count had reached (`_staged_count`).
Cheaper exact forms: one metadata value on SQLite is counted in its side table, a search with no
other filter through its gram index (`_count_searched`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Select,
    bindparam,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.exc import OperationalError

from callplane.domain.call import Call
from callplane.domain.query import CallQuery, Cursor, Total
from callplane.store import predicates, search
from callplane.store.calls import FULL_COLUMNS, SUMMARY_COLUMNS, meta_value, rows_to_calls
from callplane.store.counting import cut_off, planner_estimate, planner_plan, time_limit
from callplane.store.schema import call_meta, calls

COUNT_CAP = 10_000
#: A count may take as long as the page did, but at least the floor and at most the ceiling (ms):
#: sub-millisecond pages would otherwise never get an exact count, and the ceiling keeps what a
#: total adds to a request under 5 ms.
COUNT_BUDGET_FLOOR_MS = 2.5
COUNT_BUDGET_CEILING_MS = 3.0
#: SQLite: the first stage of a count (`_staged_count`).
FIRST_STAGE = 1_000
#: PostgreSQL: above this planner cost a capped count rarely fits the budget (measured at 1M:
#: cost ~1,000 → 3 ms, ~16,000 → 90 ms for bitmap heap scans); the estimate is given instead.
PG_COUNT_COST_MAX = 5_000.0


@dataclass(frozen=True, slots=True)
class Page:
    calls: list[Call]
    next_cursor: Cursor | None  #: None on the last page
    has_more: bool
    total: Total | None


#: SQLite: a metadata value held by at most this many of the tenant's calls drives the query.
DRIVE_MAX = 2_000


#: PostgreSQL: sample this many of the newest calls the walk would read first; a search matching
#: at least SAMPLE_MATCHES of them (2%) walks, one that is rarer goes through the GIN index.
SAMPLE_ROWS = 400
SAMPLE_MATCHES = 8
#: PostgreSQL: a common search is counted exactly (within the time budget) only when the other
#: filters leave at most this many calls to recheck.
RECHECK_MAX = 5_000


def route(conn: Connection, q: CallQuery) -> predicates.Route:
    plan = None
    if q.search is not None and conn.dialect.name == "postgresql":
        plan = search.prepare(q.organization_id, q.search)
        if plan is not None and not plan.only_token:
            matched, sampled = _sampled_matches(conn, q, plan)
            dense = matched >= SAMPLE_MATCHES
            plan = replace(plan, use_index=not dense, density=matched / sampled if sampled else None)
    elif q.search is not None:
        plan = search.plan(conn, q.organization_id, q.search)
    driver = None
    if conn.dialect.name == "sqlite" and q.metadata and not (plan is not None and plan.use_index):
        for i, (key, value) in enumerate(q.metadata):
            if _capped_meta_count(conn, q.organization_id, key, value, DRIVE_MAX + 1) <= DRIVE_MAX:
                driver = i
                break
    return predicates.Route(plan, driver)


# Built once (it runs for every SQLite list with a metadata filter, and building it cost more
# than running it).
_META_COUNT = select(func.count()).select_from(
    select(literal(1))
    .where(
        call_meta.c.organization_id == bindparam("organization_id"),
        call_meta.c.key == bindparam("key"),
        call_meta.c.value == bindparam("value"),
    )
    .limit(bindparam("cap"))
    .subquery()
)


def _capped_meta_count(conn: Connection, organization_id: str, key: str, value: Any, cap: int) -> int:
    """SQLite: how many of the tenant's calls hold `key = value`, up to `cap` (index only)."""
    params = {"organization_id": organization_id, "key": key, "value": meta_value(value), "cap": cap}
    return int(conn.execute(_META_COUNT, params).scalar_one())


def _sampled_matches(conn: Connection, q: CallQuery, plan: search.SearchPlan) -> tuple[int, int]:
    """How many of the first SAMPLE_ROWS calls the walk would read match the search.

    The same filters, cursor and order as the page (the known-value segment of a nullable
    sort): the sample reads exactly the rows a walk starts with, so its density is the walk's.
    """
    dialect = conn.dialect.name
    column = predicates.SORT_COLUMNS[q.sort]
    stmt = select(calls.c.search_text).where(*predicates.filters(replace(q, search=None), dialect))
    if q.sort.nullable:
        stmt = stmt.where(column.is_not(None))
    if q.cursor is not None and q.cursor.value is None and q.sort.nullable:
        stmt = predicates.ordered(stmt.where(column.is_(None)), calls.c.id, q.order).where(
            predicates.id_after(q.order, q.cursor.id)
        )
    else:
        stmt = predicates.ordered(stmt, column, q.order)
        if q.cursor is not None:
            stmt = stmt.where(predicates.after(column, q.order, q.cursor.value, q.cursor.id))
    sample = stmt.limit(SAMPLE_ROWS).offset(q.offset or None).subquery()
    hit = search.substring(plan, dialect, sample.c.search_text)
    counted = select(func.count(), func.count().filter(hit)).select_from(sample)
    sampled, matched = conn.execute(counted).one()
    return int(matched), int(sampled)


def list_calls(conn: Connection, q: CallQuery) -> Page:
    dialect = conn.dialect.name
    started = time.perf_counter()
    how = route(conn, q)
    where = predicates.filters(q, dialect, how)
    column = predicates.SORT_COLUMNS[q.sort]
    columns: Sequence[Any] = FULL_COLUMNS if q.include_transcript else SUMMARY_COLUMNS
    # PostgreSQL through the GIN index fetches and sorts every candidate anyway: counting them in
    # the same statement is free, where a separate count would repeat the index scan.
    windowed = (
        dialect == "postgresql"
        and how.search is not None
        and how.search.use_index
        and q.count.value != "none"
        and q.cursor is None
        and not q.offset
        and not q.sort.nullable
    )
    if windowed:
        columns = (*columns, func.count().over().label("cp_total"))
    rows = _page_rows(conn, q, where, column, columns)
    page_ms = (time.perf_counter() - started) * 1000
    has_more = len(rows) > q.limit
    window_total = Total(rows[0].cp_total if rows else 0, exact=True) if windowed else None
    rows = rows[: q.limit]
    page = rows_to_calls(rows, with_transcript=q.include_transcript)
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        next_cursor = Cursor(value=getattr(last, column.name), id=last.id)
    total = window_total
    if q.count.value != "none" and total is None and q.cursor is None and not has_more:
        # The first page holds every match (after the offset): the total is known.
        total = Total(q.offset + len(rows), exact=True) if rows or not q.offset else None
    if q.count.value != "none" and total is None:
        budget = min(max(page_ms, COUNT_BUDGET_FLOOR_MS), COUNT_BUDGET_CEILING_MS)
        total = count_calls(conn, q, where, budget_ms=budget, seen=q.offset + len(rows), plan=how.search)
    return Page(page, next_cursor, has_more, total)


_SELECTS: dict[tuple[int, ...], Select[Any]] = {}


def _select(columns: Sequence[Any]) -> Select[Any]:
    """`SELECT columns FROM calls`, built once per column list: coercing ~45 columns on every
    request cost a tenth of a millisecond."""
    key = tuple(id(c) for c in columns)
    if key not in _SELECTS:
        _SELECTS[key] = select(*columns).select_from(calls)
    return _SELECTS[key]


def _page_rows(
    conn: Connection,
    q: CallQuery,
    where: list[ColumnElement[bool]],
    column: Column[Any],
    columns: Sequence[Any],
) -> list[Any]:
    want = q.limit + 1
    # Pages with transcripts: choose the rows by key first, then read the wide rows of just
    # those. A sort over many candidates would otherwise carry (SQLite) or fetch (PostgreSQL,
    # TOAST) every candidate's transcript.
    late = q.include_transcript

    def run(stmt: Select[Any]) -> list[Any]:
        if not late:
            return list(conn.execute(stmt).all())
        if conn.dialect.name == "sqlite":
            # By rowid alone: an organisation condition here tempts SQLite into scanning the
            # organisation's index instead of probing the chosen rowids (measured 2x slower).
            rid: ColumnElement[Any] = literal_column("calls.rid")
            full = _select(columns).where(rid.in_(stmt.with_only_columns(rid)))
        else:
            # PostgreSQL plans `id IN (subquery)` as a semi-join; the organisation condition lets
            # it use the organisation's index for the probe side.
            keys = stmt.with_only_columns(calls.c.id)
            full = _select(columns).where(calls.c.organization_id == q.organization_id, calls.c.id.in_(keys))
        return list(conn.execute(full.order_by(*stmt._order_by_clauses)).all())

    base = _select(columns).where(*where)
    if not q.sort.nullable:
        stmt = predicates.ordered(base, column, q.order)
        if q.cursor is not None:
            stmt = stmt.where(predicates.after(column, q.order, q.cursor.value, q.cursor.id))
        return run(stmt.limit(want).offset(q.offset or None))

    known = predicates.ordered(base.where(column.is_not(None)), column, q.order)
    unknown = predicates.ordered(base.where(column.is_(None)), calls.c.id, q.order)
    if q.cursor is not None and q.cursor.value is None:
        # Already in the unknown segment.
        return run(unknown.where(predicates.id_after(q.order, q.cursor.id)).limit(want))
    if q.cursor is not None:
        known = known.where(predicates.after(column, q.order, q.cursor.value, q.cursor.id))
    rows = run(known.limit(want).offset(q.offset or None))
    if len(rows) >= want:
        return rows
    skip = 0
    if q.offset and not rows:
        # The offset reaches past every known value: skip the rest in the unknown segment.
        known_total = conn.execute(
            select(func.count()).select_from(calls).where(*where, column.is_not(None))
        ).scalar_one()
        skip = max(0, q.offset - known_total)
    rows += run(unknown.limit(want - len(rows)).offset(skip or None))
    return rows


def count_calls(
    conn: Connection,
    q: CallQuery,
    where: list[ColumnElement[bool]],
    *,
    budget_ms: float,
    seen: int,
    plan: search.SearchPlan | None = None,
) -> Total:
    """Count matches up to COUNT_CAP + 1 within `budget_ms`; see the module docstring."""
    if conn.dialect.name == "sqlite" and len(q.metadata) == 1 and _filters_only(q, metadata=q.metadata):
        # One metadata value: its side-table entries are the matches, counted in the index alone.
        key, value = q.metadata[0]
        found = _capped_meta_count(conn, q.organization_id, key, value, COUNT_CAP + 1)
        return Total(min(found, COUNT_CAP), exact=found <= COUNT_CAP)
    if plan is not None and plan.density is not None and not plan.use_index:
        # PostgreSQL, a common search over many calls: counting it means rechecking thousands of
        # transcripts, or a GIN scan that cannot stop early. The sampled density times the
        # planner's count of the other filters is a fair estimate, for the price of one EXPLAIN.
        rest = _estimate(conn, predicates.filters(replace(q, search=None), conn.dialect.name)) or 0
        if rest > RECHECK_MAX:
            return Total(max(seen, round(plan.density * rest)), exact=False)
    if plan is not None and not plan.only_token and _only_searched(q):
        if plan.use_index and plan.gram_exact and plan.candidates is not None:
            return Total(plan.candidates, exact=True)
        if not plan.use_index:
            return _count_searched(conn, plan, budget_ms, seen)
    estimate: int | None = None
    if conn.dialect.name == "postgresql":
        # Ask the planner first (one EXPLAIN, under a millisecond): past the cap, or too costly to
        # finish within the budget, its estimate is the answer and no count runs at all.
        planned = planner_plan(conn, where)
        if planned is not None:
            estimate, cost = planned
            if estimate > COUNT_CAP:
                return Total(estimate, exact=False)
            if cost > PG_COUNT_COST_MAX:
                return Total(max(seen, estimate), exact=False)
    return _bounded_count(conn, _capped_count(conn, where), budget_ms, seen, estimate=lambda: estimate)


def _capped_count(conn: Connection, where: list[ColumnElement[bool]]) -> Callable[[int], int]:
    """Count the matches up to a cap; one statement for every cap (the second stage of a staged
    count reuses the first's compiled form)."""
    capped = select(func.count()).select_from(
        select(literal(1)).select_from(calls).where(*where).limit(bindparam("cap")).subquery()
    )
    return lambda cap: int(conn.execute(capped, {"cap": cap}).scalar_one())


def _bounded_count(
    conn: Connection,
    count: Callable[[int], int],
    budget_ms: float,
    seen: int,
    *,
    exact: bool = True,
    estimate: Callable[[], int | None] = lambda: None,
) -> Total:
    """`count` up to COUNT_CAP + 1 within `budget_ms`.

    PostgreSQL: one timed count; past the cap or the budget, `estimate()` (the planner's) when it
    is larger than what is known. SQLite: `_staged_count`. `exact` False: what `count` counts is
    only close to the matches (search candidates).
    """
    if conn.dialect.name == "sqlite":
        return _staged_count(conn, count, budget_ms, seen, exact=exact)
    value = _timed(conn, budget_ms, count, COUNT_CAP + 1)
    if value is not None and value <= COUNT_CAP:
        return Total(value, exact=exact)
    known = seen if value is None else COUNT_CAP
    return Total(max(known, estimate() or 0), exact=False)


def _timed(conn: Connection, budget_ms: float, count: Callable[[int], int], cap: int) -> int | None:
    """`count(cap)` within `budget_ms`; None when the budget cut it off."""
    try:
        with time_limit(conn, budget_ms):
            return count(cap)
    except OperationalError as exc:
        if not cut_off(exc):
            raise
        return None


def _staged_count(
    conn: Connection, count: Callable[[int], int], budget_ms: float, seen: int, exact: bool
) -> Total:
    """SQLite: `count` up to FIRST_STAGE + 1, then up to COUNT_CAP + 1 in what is left of the budget.

    SQLite has no planner estimate to offer when a count runs out of time, and "the rows on the
    page" badly undersells a filter matching thousands. The first stage measures how fast this
    filter's matches are read; when the second is cut off, the rows it had reached by then at
    that rate are the estimate (it re-reads the first stage's rows: never less than FIRST_STAGE).
    """
    started = time.perf_counter()
    stage = min(FIRST_STAGE, COUNT_CAP)
    first = _timed(conn, budget_ms, count, stage + 1)
    if first is None:
        return Total(seen, exact=False)
    if first <= stage:
        return Total(first, exact=exact)
    if stage == COUNT_CAP:
        return Total(COUNT_CAP, exact=False)
    first_s = time.perf_counter() - started
    second = time.perf_counter()
    value = _timed(conn, budget_ms - first_s * 1000, count, COUNT_CAP + 1)
    if value is None:
        reached = round(FIRST_STAGE * (time.perf_counter() - second) / first_s)
        return Total(min(COUNT_CAP, max(seen, FIRST_STAGE, reached)), exact=False)
    return Total(min(value, COUNT_CAP), exact=exact and value <= COUNT_CAP)


def _count_searched(conn: Connection, plan: search.SearchPlan, budget_ms: float, seen: int) -> Total:
    """Count a common search with no other filter through its index candidates.

    A gram-exact query's candidates are its matches. Otherwise candidates are a close upper
    bound, reported as an estimate: rechecking thousands of transcripts would cost far more than
    the page. (A rare search, through the index, is counted exactly: its candidates are few.)
    """
    return _bounded_count(
        conn,
        partial(search.count_candidates, conn, plan.terms),
        budget_ms,
        seen,
        exact=plan.gram_exact,
        estimate=partial(search.estimate_candidates, conn, plan.terms),
    )


def _filters_only(q: CallQuery, **kept: Any) -> bool:
    """The query filters on nothing but the tenant and the given fields."""
    plain = CallQuery(
        organization_id=q.organization_id,
        sort=q.sort,
        order=q.order,
        limit=q.limit,
        cursor=q.cursor,
        offset=q.offset,
        include_transcript=q.include_transcript,
        count=q.count,
        **kept,
    )
    return plain == q


def _only_searched(q: CallQuery) -> bool:
    return _filters_only(q, search=q.search)


def _estimate(conn: Connection, where: list[ColumnElement[bool]]) -> int | None:
    return planner_estimate(conn, where) if conn.dialect.name == "postgresql" else None
