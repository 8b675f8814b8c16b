"""The success rate of the KPI strip: of the calls a `CallQuery` lists whose post-call analysis has
a given field, how many count as a success.

The field is `call_successful` (the analysis's own verdict) or one of the agent's analysis fields
(`custom_analysis_data`, `{"name", "value"}` entries). A call succeeded when the field is true,
or equals the value asked for (`appointment_status=confirmed`); a call whose analysis lacks the
field, or holds null for it, is not counted at all. The JSON is read in the database —
containment (`@>`) on PostgreSQL's JSONB, `json_each`/`json_type` on SQLite — over the list's
own predicates (`predicates.filters`), so it describes the same calls as the strip's other
figures. Kept apart from `store/reports.py` (the aggregates' own module) as one small statement.

The default — the verdict, true or false — over a period alone (the dashboard's strip without
other filters, `rollups.covers`) is read like `reports.kpis`: the ended calls of the whole hours
from `call_rollup_hours` (`judged`, `successful`, kept by migration 0019's triggers, which fire
on `analysis` too), the range's partial edges and the open calls from `calls`. Reading every
listed call's JSON cost 68 ms at 50,000 calls on SQLite (bench/analytics_bench.py). A custom
field, or a query with any other filter, still reads the JSON of the calls it lists: a custom
field is the agent's own name and value, unknown to a rollup, and other filters are the list's
predicates over columns the rollup does not group by. That read is linear in the calls listed
(bench/analytics.md: ~0.4 s of CPU for 50,000 calls on SQLite); the dashboard loads it after the
page (`web/analytics.success_fragment`), so it never holds the page or its charts up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    not_,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import JSONB

from callplane.domain.query import CallQuery
from callplane.store import listing, predicates, rollups
from callplane.store.schema import calls

#: The analysis's own verdict; any other name is a custom analysis field.
VERDICT = "call_successful"


@dataclass(frozen=True, slots=True)
class Success:
    succeeded: int
    analysed: int  #: calls whose analysis has the field (not null)

    @property
    def rate(self) -> float | None:
        return self.succeeded / self.analysed if self.analysed else None


def success(conn: Connection, q: CallQuery, field: str, value: str | bool = True) -> Success:
    def where(part: CallQuery) -> list[Any]:
        return predicates.filters(part, conn.dialect.name, listing.route(conn, part))

    rolled = field == VERDICT and isinstance(value, bool) and rollups.covers(q)
    # The rollup sums the true verdicts: the calls it does not hold are counted the same way.
    has, hit = (_postgres if conn.dialect.name == "postgresql" else _sqlite)(field, True if rolled else value)
    counts = (func.count(case((hit, 1))), func.count(case((has, 1))))
    if not rolled:
        row = conn.execute(select(*counts).where(*where(q))).one()
        return Success(int(row[0]), int(row[1]))
    inside = rollups.interior(q.listed_at, rollups.HOUR_MS)
    rest = rollups.outside(q.listed_at, inside)
    parts = [
        rollups.verdict_sums(q, inside),
        *(select(*counts).where(*where(replace(q, listed_at=edge))) for edge in rest.edges),
    ]
    if rest.inner is not None:
        inner = where(replace(q, listed_at=rest.inner))
        parts.append(select(*counts).select_from(rollups.open_calls(inner, q)))
    summed = union_all(*parts).subquery()
    true, judged = (
        int(v) for v in conn.execute(select(*(func.coalesce(func.sum(c), 0) for c in summed.c))).one()
    )
    return Success(true if value else judged - true, judged)


def _contains(document: dict[str, Any]) -> ColumnElement[bool]:
    jsonb = cast(literal(orjson.dumps(document).decode()), JSONB)
    return calls.c.analysis.op("@>", return_type=Boolean)(jsonb)


def _postgres(field: str, value: str | bool) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    if field == VERDICT:
        kind = func.jsonb_typeof(calls.c.analysis.op("->")(literal(field)))
        return kind == "boolean", _contains({field: value})
    entries = "custom_analysis_data"
    has = and_(
        _contains({entries: [{"name": field}]}), not_(_contains({entries: [{"name": field, "value": None}]}))
    )
    return has, _contains({entries: [{"name": field, "value": value}]})


def _sqlite(field: str, value: str | bool) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    def matches(document: Any, path: str) -> ColumnElement[bool]:
        if isinstance(value, bool):
            return func.json_type(document, path) == ("true" if value else "false")
        return func.json_extract(document, path) == value

    if field == VERDICT:
        path = f"$.{VERDICT}"
        return func.json_type(calls.c.analysis, path).in_(["true", "false"]), matches(calls.c.analysis, path)
    entry = func.json_each(calls.c.analysis, "$.custom_analysis_data").table_valued("value").alias("entry")
    named = and_(
        func.json_extract(entry.c.value, "$.name") == field,
        func.json_type(entry.c.value, "$.value") != "null",
    )
    has = exists(select(literal(1)).select_from(entry).where(named))
    hit = exists(select(literal(1)).select_from(entry).where(named, matches(entry.c.value, "$.value")))
    return has, hit
