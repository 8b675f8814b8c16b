"""`CallQuery` → SQL predicates and order: the WHERE and ORDER BY every list statement shares.

Filters compile to indexable predicates: single values as `=` (PostgreSQL cannot walk an index
in order through `= ANY`), ranges as inclusive bounds, the start-time range on `listed_at`
(equal to `start_at` for every call that has one). Pages are keyset by `(sort column, id)`.
Which of several equivalent forms a selective filter takes is decided per query by
`listing.route` and carried here as a `Route`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    and_,
    exists,
    literal,
    literal_column,
    select,
    tuple_,
)

from callplane.domain.query import CallQuery, Range, SortField, SortOrder
from callplane.store import search
from callplane.store.creating import meta_value
from callplane.store.schema import call_meta, calls

SORT_COLUMNS: dict[SortField, Column[Any]] = {
    SortField.START: calls.c.listed_at,
    SortField.END: calls.c.end_at,
    SortField.DURATION: calls.c.duration_ms,
    SortField.CREATED: calls.c.created_at,
    SortField.ID: calls.c.id,
}


@dataclass(frozen=True, slots=True)
class Route:
    """How to run a query's selective filters, decided per query by cheap, capped index counts.

    `search`: the transcript search plan (`search.plan`). `metadata_driver` (SQLite only): the
    position in `q.metadata` of an equality filter matched by at most `listing.DRIVE_MAX` calls, which
    then drives the query. Whenever a few candidates drive (this, or a search through the
    index), SQLite gets an unindexable tenant term (`+organization_id`): without statistics its
    planner takes any tenant for ~10 rows and would rather walk the tenant's newest-first b-tree,
    probing every call of a 300k-call tenant for a rare word or value. PostgreSQL gets one too
    (`organization_id || ''`) whenever the search goes through the index: the tenant is among
    the index's terms, and with an indexable tenant condition a fresh `ANALYZE` of the 1M set
    led the planner to AND the tenant's whole `ix_calls_campaign` range (313,680 rows, 32 ms)
    into the bitmap of 300 candidates for `누수` (36 ms a page instead of 2).
    """

    search: search.SearchPlan | None = None
    metadata_driver: int | None = None
    #: A count through the search index (`listing._count_matches`): the tenant is in the index's
    #: terms already, and on PostgreSQL an indexable tenant condition made the planner AND the
    #: whole tenant's b-tree into the bitmap (40 ms of a 54 ms count at 200k calls).
    tenant_filter_only: bool = False

    def driven(self, dialect: str) -> bool:
        using_index = self.search is not None and self.search.use_index
        return (
            self.tenant_filter_only
            or using_index
            or (dialect == "sqlite" and self.metadata_driver is not None)
        )


def _in(column: Column[Any], values: Sequence[Any]) -> ColumnElement[bool]:
    if len(values) == 1:
        equal: ColumnElement[bool] = column == values[0]
        return equal
    return column.in_(list(values))


def range_of(column: Column[Any], bounds: Range) -> list[ColumnElement[bool]]:
    out = []
    if bounds.low is not None:
        out.append(column >= bounds.low)
    if bounds.high is not None:
        out.append(column <= bounds.high)
    return out


def filters(q: CallQuery, dialect: str, how: Route | None = None) -> list[ColumnElement[bool]]:
    """Every predicate of the query except the cursor, tenant first.

    `how` says how to run the search and which filter drives (see `Route`); without one every
    filter is a plain predicate and the search walks.
    """
    how = how or Route()
    tenant_column: ColumnElement[Any] = calls.c.organization_id
    if how.driven(dialect):
        # The same condition in a form no index serves (SQLite's unary `+`; concatenation).
        unindexed = "+calls.organization_id" if dialect == "sqlite" else "(calls.organization_id || '')"
        tenant_column = literal_column(unindexed)
    where: list[ColumnElement[bool]] = [tenant_column == q.organization_id]
    for column, values in (
        (calls.c.id, q.call_ids),
        (calls.c.agent_id, q.agent_ids),
        (calls.c.status, [v.value for v in q.statuses]),
        (calls.c.call_type, [v.value for v in q.call_types]),
        (calls.c.direction, [v.value for v in q.directions]),
        (calls.c.disconnection_reason, [v.value for v in q.disconnection_reasons]),
        (calls.c.user_sentiment, [v.value for v in q.user_sentiments]),
        (calls.c.from_number, q.from_numbers),
        (calls.c.to_number, q.to_numbers),
        (calls.c.campaign_id, q.campaign_ids),
    ):
        if values:
            where.append(_in(column, values))
    if not q.start_at.is_open:
        where.extend(range_of(calls.c.listed_at, q.start_at))
        where.append(calls.c.start_at.is_not(None))
    where.extend(range_of(calls.c.listed_at, q.listed_at))
    where.extend(range_of(calls.c.end_at, q.end_at))
    where.extend(range_of(calls.c.duration_ms, q.duration_ms))
    for i, (key, value) in enumerate(q.metadata):
        if i == how.metadata_driver:
            where.append(_metadata_driver(q.organization_id, key, value))
        else:
            where.append(_metadata_equals(key, value))
    if q.search is not None:
        plan = how.search or search.walk_plan(q.search)
        if plan is not None:
            where.extend(search.conditions(plan, dialect))
    return where


# Built once, values aside: an alias of `calls` proxies its ~45 columns, and the join and
# select around it cost as much again, ~0.3 ms per request in all.
_M, _C = call_meta.alias("m"), calls.alias("c")
_DRIVER_ROWS: Select[Any] = select(literal_column("c.rid")).select_from(
    _M.join(_C, and_(_C.c.organization_id == _M.c.organization_id, _C.c.id == _M.c.call_id))
)
_ROWID: ColumnElement[Any] = literal_column("calls.rid")


def _metadata_driver(organization_id: str, key: str, value: Any) -> ColumnElement[bool]:
    """SQLite: the calls holding a rare metadata value, as rowids to look up (see `Route`)."""
    rids = _DRIVER_ROWS.where(
        _M.c.organization_id == organization_id, _M.c.key == key, _M.c.value == meta_value(value)
    )
    driver: ColumnElement[bool] = _ROWID.in_(rids)
    return driver


def _metadata_equals(key: str, value: Any) -> ColumnElement[bool]:
    # A point lookup in the call_meta side table (its key includes listed_at and id).
    return exists().where(
        call_meta.c.organization_id == calls.c.organization_id,
        call_meta.c.key == key,
        call_meta.c.value == meta_value(value),
        call_meta.c.listed_at == calls.c.listed_at,
        call_meta.c.call_id == calls.c.id,
    )


def ordered(stmt: Select[Any], column: Column[Any], order: SortOrder) -> Select[Any]:
    if order is SortOrder.DESC:
        return stmt.order_by(column.desc(), calls.c.id.desc())
    return stmt.order_by(column.asc(), calls.c.id.asc())


def after(column: Column[Any], order: SortOrder, value: Any, call_id: str) -> ColumnElement[bool]:
    if column is calls.c.id:
        return calls.c.id < call_id if order is SortOrder.DESC else calls.c.id > call_id
    key = tuple_(column, calls.c.id)
    bound = tuple_(literal(value), literal(call_id))
    return key < bound if order is SortOrder.DESC else key > bound


def id_after(order: SortOrder, call_id: str) -> ColumnElement[bool]:
    return calls.c.id < call_id if order is SortOrder.DESC else calls.c.id > call_id
