"""Retell requests → `NewCall` and `CallQuery`, with Retell's field names in every error."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from callplane.api.dialects import common
from callplane.api.dialects.retell import render
from callplane.domain.agent import parse_version_spec
from callplane.domain.call import CallType, Direction, DisconnectionReason, Sentiment
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.phone import parse_e164
from callplane.domain.query import SortOrder
from callplane.engine.services.calls import NewCall

MAX_LIMIT = 1000

#: How the core names fields that Retell names differently.
CORE_FIELDS = {
    "agent": "override_agent_id",
    "agent.agent_id": "override_agent_id",
    "agent.agent_version": "override_agent_version",
    "Idempotency-Key": "idempotency_key",
}

STATUSES = common.inverse(render.STATUS)
REASONS: dict[str, tuple[DisconnectionReason, ...]] = {
    **dict.fromkeys(render.RETELL_REASONS, ()),
    **common.inverse(render.REASON),
}
CALL_TYPES: dict[str, tuple[CallType, ...]] = {
    "web_call": (CallType.WEB,),
    "phone_call": tuple(t for t in CallType if t is not CallType.WEB),
}
DIRECTIONS = {d.value: (d,) for d in Direction}
SENTIMENTS: dict[str, tuple[Sentiment, ...]] = {v.lower(): (k,) for k, v in render.SENTIMENT.items()}
ORDERS = {"ascending": SortOrder.ASC, "descending": SortOrder.DESC}
#: Retell's own names for versions that are not numbers.
VERSION_ALIASES = {"latest": "current", "latest_published": "production"}


class CreatePhoneCall(BaseModel):
    """`POST /v2/create-phone-call`."""

    model_config = ConfigDict(strict=True, extra="forbid")
    from_number: str = Field(description="A number this organization owns, E.164 (+827011112222).")
    to_number: str = Field(description="The callee, E.164.")
    override_agent_id: str | None = Field(
        default=None, description="The agent (UUID). Omit to use the from_number's traffic split."
    )
    override_agent_version: int | str | None = Field(
        default=None,
        description="1, 2, … or `latest` / `latest_published` / `current` / `production` / `v<N>`.",
    )
    retell_llm_dynamic_variables: dict[str, str] | None = None
    metadata: dict[str, Any] | None = None
    idempotency_key: str | None = Field(
        default=None, description="Retrying with the same key and body returns the same call (24 h)."
    )
    honor_internal_dnc: bool | None = Field(
        default=None, description="Accepted; callplane always refuses numbers on the do-not-call list."
    )
    ignore_e164_validation: bool | None = Field(
        default=None, description="Accepted; numbers are always validated (the line must dial them)."
    )
    agent_override: dict[str, Any] | None = Field(default=None, description="Not supported (400 if set).")
    custom_sip_headers: dict[str, str] | None = Field(default=None, description="Not supported (400 if set).")


def agent_version(value: int | str | None) -> str:
    if value is None:
        return "current"
    if isinstance(value, str):
        value = VERSION_ALIASES.get(value, value)
        if value.isdecimal():
            value = f"v{value}"
    return parse_version_spec(value, "override_agent_version")


def idempotency_key(body_key: str | None, header_key: str | None) -> str | None:
    """Retell's `idempotency_key` body field or the `Idempotency-Key` header (what every other
    dialect and HTTP client library sends); both at once must agree."""
    if body_key is not None and header_key is not None and body_key != header_key:
        raise ValidationFailed.single("idempotency_key", "differs from the Idempotency-Key header")
    key = body_key if body_key is not None else header_key
    return common.idempotency_key(key, "idempotency_key" if body_key is not None else "Idempotency-Key")


def new_call(body: CreatePhoneCall, header_key: str | None = None) -> NewCall:
    m = common.Mistakes()
    from_number = m.attempt(parse_e164, body.from_number, "from_number")
    to_number = m.attempt(parse_e164, body.to_number, "to_number")
    agent_id = None
    if body.override_agent_id is not None:
        agent_id = m.attempt(common.agent_uuid, body.override_agent_id, "override_agent_id")
    version = m.attempt(agent_version, body.override_agent_version) or "current"
    metadata = m.attempt(common.freeform, body.metadata, "metadata") or {}
    variables = (
        m.attempt(common.freeform, body.retell_llm_dynamic_variables, "retell_llm_dynamic_variables") or {}
    )
    if body.agent_override:
        m.add("agent_override", "per-call agent overrides are not supported by callplane")
    if body.custom_sip_headers:
        m.add("custom_sip_headers", "SIP headers are not supported by callplane")
    key = m.attempt(idempotency_key, body.idempotency_key, header_key)
    m.raise_any()
    assert from_number is not None and to_number is not None, "raise_any() would have raised"
    return NewCall(
        from_number=from_number,
        to_number=to_number,
        agent_id=agent_id,
        agent_version=version,
        dynamic_variables=variables,
        metadata=metadata,
        idempotency_key=key,
    )


def order(value: str) -> SortOrder:
    return ORDERS[value]


def numbers(values: list[str], field: str) -> tuple[str, ...]:
    return tuple(parse_e164(v, f"{field}[{i}]") for i, v in enumerate(values))


def agent_ids(values: list[str]) -> tuple[str, ...]:
    """Agent ids as stored; a value that is no UUID simply matches no call."""
    return tuple(normalize_uuid(v) or v for v in values)


def call_ids(values: list[str]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(i for i in map(normalize_uuid, values) if i is not None))
    if values and not ids:
        raise common.NoMatch("call_id")
    return ids


#: Bounds a database can compare against (and a response can echo).
Int64 = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class Threshold(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    lower_threshold: Int64 | None = None
    upper_threshold: Int64 | None = None


class LegacyFilter(BaseModel):
    """Legacy `POST /v2/list-calls` filters; each list matches any of its values."""

    model_config = ConfigDict(strict=True, extra="forbid")
    agent_id: list[str] | None = None
    call_status: list[str] | None = None
    call_type: list[str] | None = None
    direction: list[str] | None = None
    disconnection_reason: list[str] | None = None
    user_sentiment: list[str] | None = None
    from_number: list[str] | None = None
    to_number: list[str] | None = None
    duration_ms: Threshold | None = None
    start_timestamp: Threshold | None = None
    call_successful: list[bool] | None = Field(default=None, description="Not supported (400 if set).")
    in_voicemail: list[bool] | None = Field(default=None, description="Not supported (400 if set).")


class LegacyList(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    filter_criteria: LegacyFilter | None = None
    sort_order: Literal["ascending", "descending"] = "descending"
    limit: int = Field(default=50, ge=1, le=MAX_LIMIT)
    pagination_key: str | None = Field(default=None, description="The last call id of the previous page.")


def legacy_filters(f: LegacyFilter) -> dict[str, Any]:
    """CallQuery keyword arguments for the legacy filters."""
    where = "filter_criteria"
    for name in ("call_successful", "in_voicemail"):
        if getattr(f, name):
            raise ValidationFailed.single(
                f"{where}.{name}", "filtering on this field is not supported by callplane"
            )
    for name in LegacyFilter.model_fields:
        if isinstance(getattr(f, name), list):
            common.capped(getattr(f, name), f"{where}.{name}")
    duration = f.duration_ms or Threshold()
    start = f.start_timestamp or Threshold()
    return {
        "agent_ids": agent_ids(f.agent_id or []),
        "statuses": common.lookup(f.call_status or [], STATUSES, f"{where}.call_status"),
        "call_types": common.lookup(f.call_type or [], CALL_TYPES, f"{where}.call_type"),
        "directions": common.lookup(f.direction or [], DIRECTIONS, f"{where}.direction"),
        "disconnection_reasons": common.lookup(
            f.disconnection_reason or [], REASONS, f"{where}.disconnection_reason"
        ),
        "user_sentiments": common.lookup(f.user_sentiment or [], SENTIMENTS, f"{where}.user_sentiment"),
        "from_numbers": numbers(f.from_number or [], f"{where}.from_number"),
        "to_numbers": numbers(f.to_number or [], f"{where}.to_number"),
        "duration_ms": common.int_range(
            duration.lower_threshold, duration.upper_threshold, f"{where}.duration_ms"
        ),
        "start_at": common.int_range(
            start.lower_threshold, start.upper_threshold, f"{where}.start_timestamp"
        ),
    }
