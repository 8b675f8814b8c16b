"""Vox requests → `NewCall` and `CallQuery`, with Vox's field names in every error."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from callplane.api.dialects import common
from callplane.api.dialects.common import Mistakes, agent_uuid, freeform
from callplane.api.dialects.common import idempotency_key as checked_idempotency_key
from callplane.domain import bounds
from callplane.domain.agent import parse_version_spec
from callplane.domain.call import Call, CallStatus, CallType, DisconnectionReason, Sentiment
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.phone import parse_kr
from callplane.domain.query import Cursor, Range, SortField, SortOrder
from callplane.engine.services.calls import NewCall

VOX_REASONS = tuple(r.value for r in DisconnectionReason if r.is_vox)
VOX_CALL_TYPES = ("web", "phone", "inbound", "outbound", "api", "unit_test", "scenario_test")
#: v3 statuses → the internal statuses they render from (see render.py).
V3_STATUS_FILTER: dict[str, tuple[CallStatus, ...]] = {
    "queued": (CallStatus.QUEUED, CallStatus.DIALING, CallStatus.RINGING),
    "ongoing": (CallStatus.ONGOING,),
    "ended": (CallStatus.ENDED,),
    "error": (CallStatus.ERROR,),
    "canceled": (CallStatus.CANCELED,),
    "not_connected": (CallStatus.NOT_CONNECTED,),
}
V2_STATUS_FILTER: dict[str, tuple[CallStatus, ...]] = {
    **V3_STATUS_FILTER,
    "queued": (CallStatus.QUEUED,),
    "registered": (CallStatus.QUEUED,),
    "ringing": (CallStatus.DIALING, CallStatus.RINGING),
}
SORT_ORDERS = {
    "asc": SortOrder.ASC,
    "ascending": SortOrder.ASC,
    "desc": SortOrder.DESC,
    "descending": SortOrder.DESC,
}

E = TypeVar("E")


class AgentMapping(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    agent_id: str = Field(description="Agent UUID.")
    agent_version: str | None = Field(default="current", description="`current`, `production` or `v<N>`.")


class CreateCallV3(BaseModel):
    """v3 outbound call request (seed 001). Unknown fields are a 400 naming them (issue 15): a
    misspelled `dynamic_variabels` or an unsupported option must not be dropped silently."""

    model_config = ConfigDict(strict=True, extra="forbid")
    from_number: str = Field(description="Caller number, domestic digits, e.g. 07011112222.")
    to_number: str = Field(description="Callee number, domestic digits, e.g. 01012345678.")
    agent: AgentMapping | None = Field(
        default=None, description="Omit to use the from_number's traffic split."
    )
    metadata: dict[str, Any] | None = None
    dynamic_variables: dict[str, Any] | None = None
    presentation_number: str | None = None


def new_call(body: CreateCallV3, idempotency_key: str | None) -> NewCall:
    m = Mistakes()
    from_number = m.attempt(parse_kr, body.from_number, "from_number")
    to_number = m.attempt(parse_kr, body.to_number, "to_number")
    presentation = (
        m.attempt(parse_kr, body.presentation_number, "presentation_number")
        if body.presentation_number
        else None
    )
    agent_id = None
    version = "current"
    if body.agent is not None:
        agent_id = m.attempt(agent_uuid, body.agent.agent_id, "agent.agent_id", "must be a UUID")
        version = m.attempt(parse_version_spec, body.agent.agent_version or "current") or "current"
    metadata = m.attempt(freeform, body.metadata, "metadata") or {}
    variables = m.attempt(freeform, body.dynamic_variables, "dynamic_variables") or {}
    m.attempt(checked_idempotency_key, idempotency_key, "Idempotency-Key")
    m.raise_any()
    assert from_number is not None and to_number is not None, "raise_any() would have raised"
    return NewCall(
        from_number=from_number,
        to_number=to_number,
        agent_id=agent_id,
        agent_version=version,
        dynamic_variables=variables,
        metadata=metadata,
        presentation_number=presentation,
        idempotency_key=idempotency_key,
    )


def vocabulary(values: Iterable[str], allowed: Mapping[str, E], field: str) -> tuple[E, ...]:
    """Map each value through `allowed` (case-insensitive), naming the allowed values on error."""
    out: list[E] = []
    for i, value in enumerate(values):
        key = value.lower() if isinstance(value, str) else value
        if key not in allowed:
            raise ValidationFailed.single(f"{field}[{i}]", f"{value!r} is not allowed", list(allowed))
        out.append(allowed[key])
    return tuple(dict.fromkeys(out))


def statuses(
    values: Iterable[str], table: Mapping[str, tuple[CallStatus, ...]], field: str
) -> tuple[CallStatus, ...]:
    groups = vocabulary(values, table, field)
    return tuple(dict.fromkeys(s for group in groups for s in group))


REASONS = {r: DisconnectionReason(r) for r in VOX_REASONS}
CALL_TYPES = {t: CallType(t) for t in VOX_CALL_TYPES}
SENTIMENTS = {s.value: s for s in Sentiment}


def agent_ids(values: Iterable[str]) -> tuple[str, ...]:
    """Agent ids as stored; a value that is no UUID simply matches no call."""
    return tuple(normalize_uuid(v) or v for v in values)


def numbers(values: Iterable[str], field: str) -> tuple[str, ...]:
    return tuple(parse_kr(v, f"{field}[{i}]") for i, v in enumerate(values))


def sort_order(value: str, field: str = "sort_order") -> SortOrder:
    order = SORT_ORDERS.get(value.lower()) if isinstance(value, str) else None
    if order is None:
        raise ValidationFailed.single(
            field, f"{value!r} is not allowed", ["ascending", "descending", "asc", "desc"]
        )
    return order


def threshold(lower: int | None, upper: int | None, field: str) -> Range:
    """Inclusive bounds; past what a time or duration can be, clamped (or NoMatch)."""
    if lower is not None and upper is not None and lower > upper:
        raise ValidationFailed.single(field, "lower_threshold is above upper_threshold")
    return common.int_range(lower, upper, field)


def cursor_from_call(call: Call, sort: SortField) -> Cursor:
    """A keyset cursor that starts after `call` (v2's pagination_key may be a plain call id)."""
    values = {
        SortField.START: call.start_at if call.start_at is not None else call.created_at,
        SortField.END: call.end_at,
        SortField.DURATION: call.duration_ms,
        SortField.CREATED: call.created_at,
        SortField.ID: None,
    }
    return Cursor(values[sort], call.id)


def metadata_filters(raw: Mapping[str, Any], field: str) -> tuple[tuple[str, str | int | float | bool], ...]:
    bounds.check_count(raw, bounds.MAX_METADATA_FILTERS, field)
    out = []
    for key, value in raw.items():
        if isinstance(value, (dict, list)) or value is None:
            raise ValidationFailed.single(f"{field}.{key}", "metadata filters compare scalar values")
        out.append((key, value))
    return common.metadata_filter(out, field)
