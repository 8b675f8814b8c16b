"""The success rate of the KPI strip: of the calls a `CallQuery` lists whose post-call analysis has
a given field, how many count as a success.

The field is `call_successful` (the analysis's own verdict) or one of the agent's analysis fields
(`custom_analysis_data`, `{"name", "value"}` entries). A call succeeded when the field is true,
or equals the value asked for (`appointment_status=confirmed`); a call whose analysis lacks the
field, or holds null for it, is not counted at all. The JSON is read in the database —
containment (`@>`) on PostgreSQL's JSONB, `json_each`/`json_type` on SQLite — over the list's
own predicates (`predicates.filters`), so it describes the same calls as the strip's other
figures. Kept apart from `store/reports.py` (the aggregates' own module) as one small statement.
"""

from __future__ import annotations

from dataclasses import dataclass
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
)
from sqlalchemy.dialects.postgresql import JSONB

from callplane.domain.query import CallQuery
from callplane.store import listing, predicates
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
    where = predicates.filters(q, conn.dialect.name, listing.route(conn, q))
    has, hit = (_postgres if conn.dialect.name == "postgresql" else _sqlite)(field, value)
    row = conn.execute(select(func.count(case((has, 1))), func.count(case((hit, 1)))).where(*where)).one()
    return Success(int(row[1]), int(row[0]))


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
