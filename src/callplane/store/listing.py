"""`CallQuery` → a page of calls and its exact total: the one query path every list endpoint uses.

The predicates and order are built in `store.predicates`; this module chooses how to run the
selective ones (`route`), fetches the page and counts.

A nullable sort column (`end_at`, `duration_ms`) is read in two segments — known values in
order, then unknown values by id — so both use the same b-tree and "unknown" sorts last in
either direction on both databases.

`total_count` depends on the data alone, never on how long counting takes (Vox's has no way to
say "estimate"; a total that changed with the machine's load was a bug, issue 16):
- no filter: the organisation's maintained per-day counts (`store.counting`);
- other filters: an exact count through the filter's index (one metadata value, with or without
  a `listed_at` range: its `call_meta` side-table entries);
- a transcript search: its list holds at most `MAX_SEARCH_RESULTS` matches, and the total counts
  that list (`Total.exact` False when more calls matched). Counting every match of a common word
  means a substring check per candidate: at 1M calls, ~150 ms for `예약` (75k matches), so the
  list is capped as search vendors cap theirs, and what a client can page through is exactly
  what `total_count` says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
)

from callplane.domain.call import Call
from callplane.domain.query import MAX_SEARCH_RESULTS, CallQuery, Cursor, SortOrder, Total
from callplane.store import counting, predicates, search
from callplane.store.calls import SUMMARY_COLUMNS, rows_to_calls
from callplane.store.creating import meta_value
from callplane.store.schema import call_counts, call_meta, calls


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
#: PostgreSQL, a common word's capped total (`_walked_matches`): walk when the cap is expected
#: within this many rows, and the index's candidates outnumber the walk's rows WALK_COST times
#: (a GIN candidate cost ~0.5–1 µs, a walked row ~4 µs: measured at 100k and 1M calls).
WALK_MAX_ROWS = 10_000
WALK_COST = 6


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


def _meta_total(conn: Connection, q: CallQuery) -> int:
    """One metadata value (within a `listed_at` range, if any): its side-table entries are the
    matches, counted in the primary key alone. PostgreSQL's GIN on `calls.metadata` rechecked
    every match in the heap (13,105 at 416k calls: 0.9 s)."""
    key, value = q.metadata[0]
    m = call_meta.c
    where = [m.organization_id == q.organization_id, m.key == key, m.value == meta_value(value)]
    where += predicates.range_of(m.listed_at, q.listed_at)
    return int(conn.execute(select(func.count()).select_from(call_meta).where(*where)).scalar_one())


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
    how = route(conn, q)
    where = predicates.filters(q, dialect, how)
    column = predicates.SORT_COLUMNS[q.sort]
    columns = page_columns(q, dialect)
    # A search list ends after MAX_SEARCH_RESULTS rows (see the module docstring): `served` rows
    # came before this page, `room` is what is left of the list.
    served = q.offset + (q.cursor.position if q.cursor is not None else 0) if q.search is not None else 0
    if q.search is not None and q.cursor is not None and not q.cursor.position and not q.sort.nullable:
        # A cursor that does not say how far the list got (made from a bare call id: Vox v2's and
        # Retell's legacy `pagination_key`): count the matches up to it, so it cannot page past
        # the cap either.
        served = _served_up_to(conn, q, where, column, q.cursor)
    room = min(q.limit, MAX_SEARCH_RESULTS - served) if q.search is not None else q.limit
    if room <= 0:
        total = _count(conn, q, where, how.search) if q.count.value != "none" else None
        return Page([], None, False, total)
    # Through the gram index (PostgreSQL's GIN, SQLite's FTS5) the page fetches and sorts every
    # candidate anyway: counting them in the same statement is nearly free, where a separate
    # count would repeat the index scan (SQLite at 1M calls: +5–7 ms for a rare word). Not for
    # pages with transcripts: they choose their keys in a subquery (`_page_rows`), outside of
    # which the window would count the page's rows alone. Not on PostgreSQL when the substring
    # is rechecked: the page rechecks only the calls it shows (`_rechecked`), a window would
    # recheck every candidate, where the capped count stops at MAX_SEARCH_RESULTS + 1 matches.
    windowed = (
        how.search is not None
        and how.search.use_index
        and (dialect == "sqlite" or how.search.gram_exact)
        and q.count.value != "none"
        and q.cursor is None
        and not q.offset
        and not q.sort.nullable
        and not q.include_transcript
    )
    if windowed:
        columns = (*columns, _WINDOW_TOTAL)
    page_where, recheck = page_filters(q, dialect, how, where)
    rows = _page_rows(conn, replace(q, limit=room), page_where, column, columns, recheck)
    more = len(rows) > room  # more matches follow this page
    has_more = more and served + room < MAX_SEARCH_RESULTS if q.search is not None else more
    rows = rows[:room]
    total = None
    if windowed:
        total = _search_total(rows[0].cp_total if rows else 0)
    elif q.count.value != "none" and q.cursor is None and not more and (rows or not q.offset):
        # The first page holds every match (after the offset): the total is known.
        total = Total(q.offset + len(rows), exact=True)
    elif q.count.value != "none":
        total = _count(conn, q, where, how.search)
    page = rows_to_calls(rows, with_transcript=q.include_transcript)
    next_cursor = None
    if has_more and rows:
        last = rows[-1]
        position = served + len(rows) if q.search is not None else 0
        next_cursor = Cursor(value=getattr(last, column.name), id=last.id, position=position)
    return Page(page, next_cursor, has_more, total)


def page_filters(
    q: CallQuery, dialect: str, how: predicates.Route, where: list[ColumnElement[bool]]
) -> tuple[list[ColumnElement[bool]], ColumnElement[bool] | None]:
    """The page statement's conditions, and one to apply after its order (`_rechecked`), if any:
    PostgreSQL through the GIN index selects by the candidates alone and rechecks the substring
    in the page's order."""
    plan = how.search
    if dialect == "postgresql" and plan is not None and plan.use_index and not plan.gram_exact:
        candidates_only = replace(how, search=replace(plan, gram_exact=True))
        return predicates.filters(q, dialect, candidates_only), search.substring(plan, dialect)
    return where, None


def page_columns(q: CallQuery, dialect: str) -> Sequence[Any]:
    """What a page selects (see `_WITH_TRANSCRIPT`)."""
    return _WITH_TRANSCRIPT[dialect] if q.include_transcript else SUMMARY_COLUMNS


def _served_up_to(
    conn: Connection, q: CallQuery, where: list[ColumnElement[bool]], column: Column[Any], cursor: Cursor
) -> int:
    """How many of the list's rows come before `cursor` or are its call, up to the cap."""
    backwards = SortOrder.ASC if q.order is SortOrder.DESC else SortOrder.DESC
    upto = or_(predicates.after(column, backwards, cursor.value, cursor.id), calls.c.id == cursor.id)
    stmt = select(literal(1)).select_from(calls).where(*where, upto).limit(MAX_SEARCH_RESULTS)
    return int(conn.execute(select(func.count()).select_from(stmt.subquery())).scalar_one())


#: A page with transcripts reads them as the stored JSON text (PostgreSQL: jsonb's text form):
#: `rows_to_calls` decodes it and keeps it, so a renderer can pass it through (Vox v2).
_WITH_TRANSCRIPT: dict[str, tuple[Any, ...]] = {
    "sqlite": (*SUMMARY_COLUMNS, type_coerce(calls.c.transcript, Text).label("transcript")),
    "postgresql": (*SUMMARY_COLUMNS, cast(calls.c.transcript, Text).label("transcript")),
}
#: One object, so `_select` builds the windowed select once (it keys by the columns' ids).
_WINDOW_TOTAL = func.count().over().label("cp_total")

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
    recheck: ColumnElement[bool] | None = None,
) -> list[Any]:
    """The page's rows (one more than the limit: is there more?). `recheck`: a condition left
    out of `where`, applied after the order (`_rechecked`)."""
    want = q.limit + 1
    # Pages with transcripts: choose the rows by key first, then read the wide rows of just
    # those. A sort over many candidates would otherwise carry (SQLite) or fetch (PostgreSQL,
    # TOAST) every candidate's transcript.
    late = q.include_transcript

    def run(stmt: Select[Any], by: Column[Any], limit: int, offset: int | None = None) -> list[Any]:
        if recheck is not None:
            stmt = _rechecked(stmt, by, q.order, q.organization_id, columns, recheck)
        stmt = stmt.limit(limit).offset(offset)
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
        return list(conn.execute(predicates.ordered(full, by, q.order)).all())

    base = _select(columns).where(*where)
    if not q.sort.nullable:
        stmt = predicates.ordered(base, column, q.order)
        if q.cursor is not None:
            stmt = stmt.where(predicates.after(column, q.order, q.cursor.value, q.cursor.id))
        return run(stmt, column, want, q.offset or None)

    known = predicates.ordered(base.where(column.is_not(None)), column, q.order)
    unknown = predicates.ordered(base.where(column.is_(None)), calls.c.id, q.order)
    if q.cursor is not None and q.cursor.value is None:
        # Already in the unknown segment.
        return run(unknown.where(predicates.id_after(q.order, q.cursor.id)), calls.c.id, want)
    if q.cursor is not None:
        known = known.where(predicates.after(column, q.order, q.cursor.value, q.cursor.id))
    rows = run(known, column, want, q.offset or None)
    if len(rows) >= want:
        return rows
    skip = 0
    if q.offset and not rows:
        # The offset reaches past every known value: skip the rest in the unknown segment.
        matching = [*where, recheck] if recheck is not None else where
        known_total = conn.execute(
            select(func.count()).select_from(calls).where(*matching, column.is_not(None))
        ).scalar_one()
        skip = max(0, q.offset - known_total)
    rows += run(unknown, calls.c.id, want - len(rows), skip or None)
    return rows


def _rechecked(
    stmt: Select[Any],
    by: Column[Any],
    order: SortOrder,
    organization_id: str,
    columns: Sequence[Any],
    recheck: ColumnElement[bool],
) -> Select[Any]:
    """`stmt` (the index's candidates, ordered) with the substring rechecked after the order.

    PostgreSQL through the GIN index: the candidates' keys are sorted first (heap tuples read,
    texts not), then each call's text is checked in that order until the page is full. Checked
    before the sort, every candidate's text was decompressed and searched: ~6 µs a call, 26 ms
    for `재약정` at 416k calls (~4,300 candidates at 1M).
    """
    keys = stmt.with_only_columns(calls.c.id.label("k_id"), by.label("k_by")).subquery("k")
    joined = keys.join(calls, and_(calls.c.organization_id == organization_id, calls.c.id == keys.c.k_id))
    ordered = (
        (keys.c.k_by.desc(), keys.c.k_id.desc()) if order is SortOrder.DESC else (keys.c.k_by, keys.c.k_id)
    )
    return select(*columns).select_from(joined).where(recheck).order_by(*ordered)


def _count(
    conn: Connection, q: CallQuery, where: list[ColumnElement[bool]], plan: search.SearchPlan | None
) -> Total:
    """The total of the list `q` describes: exact, whatever the load (module docstring)."""
    if q.search is not None:
        return _search_total(_count_matches(conn, q, plan, MAX_SEARCH_RESULTS + 1))
    if filters_only(q):
        return Total(counting.organization_total(conn, q.organization_id), exact=True)
    if len(q.metadata) == 1 and filters_only(q, metadata=q.metadata, listed_at=q.listed_at):
        return Total(_meta_total(conn, q), exact=True)
    return Total(int(conn.execute(select(func.count()).select_from(calls).where(*where)).scalar_one()), True)


def _search_total(matches: int) -> Total:
    return Total(min(matches, MAX_SEARCH_RESULTS), exact=matches <= MAX_SEARCH_RESULTS)


def _count_matches(conn: Connection, q: CallQuery, plan: search.SearchPlan | None, cap: int) -> int:
    """A search's matches among the other filters, up to `cap`.

    The same matches as the page's statement, but not necessarily the same way: a count needs no
    order, so where the page walks the newest calls with the substring check, the count reads the
    index's candidates (SQLite: FTS5 rowids driving a join, which stops at the cap; PostgreSQL: a
    GIN bitmap, rechecked until the cap). Walking instead cost PostgreSQL ~7 µs of `strpos` per
    Korean row: 100 ms for the 15k rows that hold 1,001 matches of `예약` (200k calls, loaded host),
    where the GIN count took a few.
    """
    dialect = conn.dialect.name
    how = predicates.Route(plan)
    if dialect == "postgresql" and plan is not None and not plan.use_index and not _since(q):
        bounded = _walked_matches(conn, q, plan, cap)
        if bounded is not None:
            return bounded
    if dialect == "postgresql" and plan is not None and not plan.use_index and _since(q):
        # A common word within a time range from some point on ("the last 30 days"): the GIN
        # bitmap is read in table order, oldest first, so it rechecked every older match before
        # the first one in range (100k calls, `주문번호`: 5,457 rows before 1,001 matches; the
        # waste grew with the tenant). Walking the range's own index newest first, as the page
        # does, reads only calls in range: ~1,001 / density rows.
        by_end = q.start_at.low is None and q.listed_at.low is None
        walked = predicates.ordered(
            select(literal(1)).select_from(calls).where(*predicates.filters(q, dialect, how)),
            calls.c.end_at if by_end else calls.c.listed_at,
            SortOrder.DESC,
        )
        counted = select(func.count()).select_from(walked.limit(cap).subquery())
        return int(conn.execute(counted).scalar_one())
    if plan is not None and not plan.only_token:
        # The tenant is among the index terms: its condition only filters (`predicates.Route`).
        how = predicates.Route(replace(plan, use_index=True, filter_walk=False), tenant_filter_only=True)
        if dialect == "sqlite":
            rest = predicates.filters(replace(q, search=None), dialect, how)
            return search.count_sqlite_matches(conn, plan, rest, cap, newest_first=not _until(q))
    where = predicates.filters(q, dialect, how)
    capped = select(func.count()).select_from(
        select(literal(1)).select_from(calls).where(*where).limit(cap).subquery()
    )
    return int(conn.execute(capped).scalar_one())


def _walked_matches(conn: Connection, q: CallQuery, plan: search.SearchPlan, cap: int) -> int | None:
    """PostgreSQL, a common word: `cap` if the first rows of the page's walk hold `cap` matches,
    else None (count through the index then). The answer is the same as the GIN count's (`cap`
    either way): which one runs changes the cost, never a total.

    A GIN bitmap cannot stop at the cap: it holds every candidate of the tenant (at 1M calls 75k
    for `예약`, whose count took 60–90 ms), where a walk reads about `cap / density` rows at
    ~4 µs each (the `strpos` of a detoasted ~2 kB text). So walk only when the sample's density
    says the cap comes within WALK_MAX_ROWS rows and the tenant's candidates (its maintained
    call count times the density) outnumber the walk's rows WALK_COST times over: at 100k calls
    the GIN count of `예약` (7.4k candidates) took 3.5 ms and the walk 15–25. The walk reads at
    most twice its expected rows: unbounded, a walk read the whole tenant for a word just dense
    enough to walk its page (`재약정`, 1.3%: 371 ms at 1M calls).
    """
    if not plan.density:
        return None
    expected = cap / plan.density
    if expected > WALK_MAX_ROWS:
        return None
    if _tenant_calls(conn, q.organization_id) * plan.density < WALK_COST * expected:
        return None
    dialect = conn.dialect.name
    column = predicates.SORT_COLUMNS[q.sort]
    rows = select(calls.c.search_text).where(*predicates.filters(replace(q, search=None), dialect))
    if q.sort.nullable:
        # The known-value segment (the sample's): matches found there are matches all the same.
        rows = rows.where(column.is_not(None))
    walk = predicates.ordered(rows, column, q.order).limit(int(2 * expected)).subquery()
    hits = select(literal(1)).select_from(walk).where(search.substring(plan, dialect, walk.c.search_text))
    found = int(conn.execute(select(func.count()).select_from(hits.limit(cap).subquery())).scalar_one())
    return found if found >= cap else None


def _tenant_calls(conn: Connection, organization_id: str) -> int:
    """About how many calls the organisation has: its counted days (`store.counting`), without
    the days not counted yet. Only a cost estimate: an index range of at most a row a day."""
    stmt = select(func.coalesce(func.sum(call_counts.c.calls), 0)).where(
        call_counts.c.organization_id == organization_id
    )
    return int(conn.execute(stmt).scalar_one())


def _since(q: CallQuery) -> bool:
    """A time range from some point on (with or without an end): recent calls are in it."""
    return any(r.low is not None for r in (q.start_at, q.listed_at, q.end_at))


def _until(q: CallQuery) -> bool:
    """A time range up to some point only: the oldest calls are in it, the newest may not be."""
    return not _since(q) and any(r.high is not None for r in (q.start_at, q.listed_at, q.end_at))


def filters_only(q: CallQuery, **kept: Any) -> bool:
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
