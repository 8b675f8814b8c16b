"""Zudu requests → `CallQuery` and `NewCall`, and the `applied_filters` echo."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from callplane.api.dialects import common
from callplane.api.dialects.zudu import render
from callplane.domain.agent import parse_version_spec
from callplane.domain.call import CallStatus, CallType, Direction
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.phone import parse_e164
from callplane.domain.query import CallQuery, CountMode, SortField, SortOrder
from callplane.engine.services.calls import NewCall

DEFAULT_LIMIT = 20
MAX_LIMIT = 100

#: Case-insensitive. `scheduled` is a Zudu status callplane never reports: it matches no call.
STATUSES: dict[str, tuple[CallStatus, ...]] = {
    **common.inverse({s: v.lower() for s, v in render.STATUS.items()}),
    "scheduled": (),
}
CALL_TYPES: dict[str, tuple[CallType, ...]] = {
    "web_call": (CallType.WEB,),
    "phone_call": tuple(t for t in CallType if t is not CallType.WEB),
}
DIRECTIONS = {d.value: (d,) for d in Direction}
SORT_FIELDS = {
    "start_timestamp": SortField.START,
    "end_timestamp": SortField.END,
    "call_duration": SortField.DURATION,
    "call_id": SortField.ID,
    "created_at": SortField.CREATED,
}
SORT_ORDERS = {
    "ascending": SortOrder.ASC,
    "descending": SortOrder.DESC,
    "asc": SortOrder.ASC,
    "desc": SortOrder.DESC,
}
CORE_FIELDS = {
    "agent": "override_agent_id",
    "agent.agent_id": "override_agent_id",
    "agent.agent_version": "override_agent_version",
}

StrOrList = list[str] | str | None


#: Bounds a database can compare against (and a response can echo).
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class Threshold(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    lower_threshold: Int64 | None = Field(default=None, description="Inclusive.")
    upper_threshold: Int64 | None = Field(default=None, description="Inclusive.")


class FilterCriteria(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    call_status: StrOrList = Field(default=None, description="REGISTERED, ONGOING, ENDED, ERROR, SCHEDULED.")
    agent_id: StrOrList = None
    call_type: StrOrList = Field(default=None, description="PHONE_CALL, WEB_CALL.")
    direction: StrOrList = Field(default=None, description="INBOUND, OUTBOUND.")
    duration_ms: Threshold | None = None
    start_timestamp: Threshold | None = Field(default=None, description="Unix ms, inclusive (date range).")
    transcript_search: str | None = Field(default=None, description="Case-insensitive transcript substring.")


class ListCalls(BaseModel):
    """`POST /api/calls` (seed 002). Every field is optional."""

    model_config = ConfigDict(strict=True, extra="forbid")
    page: int = Field(default=0, ge=0, description="0-based.")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    sort_by: str = Field(default="start_timestamp", description=", ".join(SORT_FIELDS))
    sort_order: str = Field(default="descending", description="ascending or descending.")
    filter_criteria: FilterCriteria | None = None


@dataclass(frozen=True)
class Listing:
    query: CallQuery | None  #: None: the filters match no call
    page: int
    limit: int
    sort_by: str
    sort_order: str
    applied: dict[str, Any]


def _choice(value: str, table: dict[str, Any], field: str) -> Any:
    key = value.lower() if isinstance(value, str) else value
    if key not in table:
        raise ValidationFailed.single(field, f"{value!r} is not allowed", list(table))
    return table[key]


def listing(body: ListCalls, org: str, max_offset: int) -> Listing:
    f = body.filter_criteria or FilterCriteria()
    sort = _choice(body.sort_by, SORT_FIELDS, "sort_by")
    order = _choice(body.sort_order, SORT_ORDERS, "sort_order")
    common.check_offset(body.page * body.limit, max_offset, "page")
    where = "filter_criteria"
    applied: dict[str, Any] = {}
    for name in ("call_status", "agent_id", "call_type", "direction"):
        values = common.strings(getattr(f, name))
        common.capped(values, f"{where}.{name}")
        if values:
            applied[name] = values
    duration = f.duration_ms or Threshold()
    start = f.start_timestamp or Threshold()
    for name, threshold in (("duration_ms", duration), ("start_timestamp", start)):
        if threshold.lower_threshold is not None or threshold.upper_threshold is not None:
            applied[name] = threshold.model_dump(exclude_none=True)
    search = common.search_text(f.transcript_search, f"{where}.transcript_search")
    if search is not None:
        applied["transcript_search"] = search
    try:
        query: CallQuery | None = CallQuery(
            organization_id=org,
            statuses=common.lookup(applied.get("call_status", []), STATUSES, f"{where}.call_status"),
            agent_ids=tuple(normalize_uuid(a) or a for a in applied.get("agent_id", [])),
            call_types=common.lookup(applied.get("call_type", []), CALL_TYPES, f"{where}.call_type"),
            directions=common.lookup(applied.get("direction", []), DIRECTIONS, f"{where}.direction"),
            duration_ms=common.int_range(
                duration.lower_threshold, duration.upper_threshold, f"{where}.duration_ms"
            ),
            start_at=common.int_range(
                start.lower_threshold, start.upper_threshold, f"{where}.start_timestamp"
            ),
            search=search,
            sort=sort,
            order=order,
            limit=body.limit,
            offset=body.page * body.limit,
            count=CountMode.EXACT,
        )
    except common.NoMatch:
        query = None
    return Listing(query, body.page, body.limit, body.sort_by, body.sort_order, applied)


class CreatePhoneCall(BaseModel):
    """`POST /api/calls/create-phone-call`."""

    model_config = ConfigDict(strict=True, extra="forbid")
    from_number: str = Field(description="A number this organization owns, E.164.")
    to_number: str = Field(description="The callee, E.164.")
    override_agent_id: str | None = Field(
        default=None, description="Agent UUID; omit to use the from_number's traffic split."
    )
    override_agent_version: str | int | None = Field(
        default=None, description="callplane: current (default), production, v<N> or N."
    )
    metadata: dict[str, Any] | None = None
    dynamic_variables: dict[str, Any] | None = Field(default=None, description="callplane: prompt variables.")


def new_call(body: CreatePhoneCall, idempotency_key: str | None) -> NewCall:
    m = common.Mistakes()
    from_number = m.attempt(parse_e164, body.from_number, "from_number")
    to_number = m.attempt(parse_e164, body.to_number, "to_number")
    agent_id = None
    if body.override_agent_id is not None:
        agent_id = m.attempt(common.agent_uuid, body.override_agent_id, "override_agent_id")
    version = "current"
    if body.override_agent_version is not None:
        raw = body.override_agent_version
        spec = f"v{raw}" if str(raw).isdecimal() else raw
        version = m.attempt(parse_version_spec, spec, "override_agent_version") or version
    metadata = m.attempt(common.freeform, body.metadata, "metadata") or {}
    variables = m.attempt(common.freeform, body.dynamic_variables, "dynamic_variables") or {}
    m.attempt(common.idempotency_key, idempotency_key, "Idempotency-Key")
    m.raise_any()
    assert from_number is not None and to_number is not None, "raise_any() would have raised"
    return NewCall(
        from_number=from_number,
        to_number=to_number,
        agent_id=agent_id,
        agent_version=version,
        metadata=metadata,
        dynamic_variables=variables,
        idempotency_key=idempotency_key,
    )
