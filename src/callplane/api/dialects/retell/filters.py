"""Retell's `CallFilter` language (`POST /v3/list-calls`) → `CallQuery` keyword arguments.

Every condition is `{type, op, value}` and all conditions are ANDed. callplane serves the ones
its one query path can answer exactly:

| key | accepted |
|---|---|
| `agent` | `[{agent_id}]` (any of); `version` lists are not supported |
| `call_id` | string `eq`, enum `in` |
| `batch_call_id` | string `eq`: calls made for that batch (campaign) |
| `call_status`, `call_type`, `direction`, `disconnection_reason`, `user_sentiment` | enum `in` |
| `duration_ms`, `start_timestamp`, `end_timestamp` | number `eq/gt/ge/lt/le`, range `bt` (inclusive) |
| `from_number`, `to_number` | string `eq` (E.164) |
| `metadata` | `[{key, type: string/number/boolean, op: eq, value}]` |
| `transcript` (callplane) | string `co`: case-insensitive transcript substring |

Anything else Retell defines (`agent_tag`, `call_successful`, `combined_cost`,
`custom_analysis_data`, `custom_attributes`, `data_storage_setting`, `dynamic_variables`,
`e2e_latency_p50`, `in_voicemail`, `tool_calls`) and any operator not listed is a 400 naming the
filter — never silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from callplane.api.dialects import common
from callplane.api.dialects.retell import parse
from callplane.domain import bounds
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.phone import parse_e164
from callplane.domain.query import Range

UNSUPPORTED = (
    "agent_tag",
    "call_successful",
    "combined_cost",
    "custom_analysis_data",
    "custom_attributes",
    "data_storage_setting",
    "dynamic_variables",
    "e2e_latency_p50",
    "in_voicemail",
    "tool_calls",
)
WHERE = "filter_criteria"


def _fail(field: str, reason: str, allowed: list[str] | None = None) -> ValidationFailed:
    return ValidationFailed.single(field, reason, allowed)


def _condition(raw: object, field: str, types: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _fail(field, "must be a filter object {type, op, value}")
    kind = raw.get("type")
    if kind not in types:
        raise _fail(f"{field}.type", f"{kind!r} is not supported here", list(types))
    return raw


def _op(cond: dict[str, Any], field: str, ops: tuple[str, ...]) -> str:
    op = cond.get("op")
    if op not in ops:
        raise _fail(f"{field}.op", f"{op!r} is not supported here", list(ops))
    return str(op)


def _enum(raw: object, field: str) -> list[str]:
    cond = _condition(raw, field, ("enum",))
    _op(cond, field, ("in",))
    values = cond.get("value")
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise _fail(f"{field}.value", "must be a non-empty list of strings")
    return list(common.capped(values, f"{field}.value"))


def _string_eq(raw: object, field: str) -> str:
    cond = _condition(raw, field, ("string",))
    _op(cond, field, ("eq",))
    value = cond.get("value")
    if not isinstance(value, str):
        raise _fail(f"{field}.value", "must be a string")
    return value


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(field, "must be a finite number")
    return float(value)


def _range(raw: object, field: str) -> Range:
    cond = _condition(raw, field, ("number", "range"))
    if cond["type"] == "range":
        _op(cond, field, ("bt",))
        bounds = cond.get("value")
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise _fail(f"{field}.value", "must be [lower, upper]")
        low = _number(bounds[0], f"{field}.value[0]")
        high = _number(bounds[1], f"{field}.value[1]")
        return common.int_range(low, high, field)
    op = _op(cond, field, ("eq", "gt", "ge", "lt", "le"))
    value = _number(cond.get("value"), f"{field}.value")
    if op == "eq":
        return common.int_range(value, value, field)
    if op in ("gt", "ge"):
        return common.int_range(value, None, field, low_open=op == "gt")
    return common.int_range(None, value, field, high_open=op == "lt")


def _call_id(raw: object, field: str) -> tuple[str, ...]:
    cond = _condition(raw, field, ("string", "enum"))
    values = [_string_eq(cond, field)] if cond["type"] == "string" else _enum(cond, field)
    return parse.call_ids(values)


def _agents(raw: object, field: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(field, "must be a non-empty list of {agent_id, version}")
    common.capped(raw, field)
    ids = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("agent_id"), str):
            raise _fail(f"{where}.agent_id", "is required")
        if item.get("version"):
            raise _fail(f"{where}.version", "filtering by agent version is not supported by callplane")
        unknown = set(item) - {"agent_id", "version"}
        if unknown:
            raise _fail(f"{where}.{sorted(unknown)[0]}", "is not a known key", ["agent_id", "version"])
        ids.append(item["agent_id"])
    return parse.agent_ids(ids)


def _metadata(raw: object, field: str) -> tuple[tuple[str, str | int | float | bool], ...]:
    if not isinstance(raw, list):
        raise _fail(field, "must be a list of {key, type, op, value}")
    bounds.check_count(raw, bounds.MAX_METADATA_FILTERS, field)
    out: list[tuple[str, str | int | float | bool]] = []
    for i, item in enumerate(raw):
        where = f"{field}[{i}]"
        cond = _condition(item, where, ("string", "number", "boolean"))
        _op(cond, where, ("eq",))
        key = cond.get("key")
        if not isinstance(key, str) or not key:
            raise _fail(f"{where}.key", "is required")
        value = cond.get("value")
        expected = {"string": (str,), "number": (int, float), "boolean": (bool,)}[cond["type"]]
        if not isinstance(value, expected) or (cond["type"] == "number" and isinstance(value, bool)):
            raise _fail(f"{where}.value", f"must be a {cond['type']}")
        if isinstance(value, float):
            _number(value, f"{where}.value")
            if value.is_integer():
                value = int(value)  # stored JSON compares 5 and 5.0 differently
        out.append((key, value))
    return common.metadata_filter(out, field)


def _transcript(raw: object, field: str) -> str | None:
    cond = _condition(raw, field, ("string",))
    _op(cond, field, ("co",))
    value = cond.get("value")
    if not isinstance(value, str):
        raise _fail(f"{field}.value", "must be a string")
    return common.search_text(value, f"{field}.value")


def _enum_filter(table: dict[str, tuple[Any, ...]], fold: bool = False) -> Callable[[object, str], Any]:
    def parse_one(raw: object, field: str) -> tuple[Any, ...]:
        return common.lookup(_enum(raw, field), table, f"{field}.value", fold=fold)

    return parse_one


def _batch(raw: object, field: str) -> tuple[str, ...]:
    value = _string_eq(raw, field)
    return (normalize_uuid(value) or value,)  # a value that is no UUID matches no call


def _number_filter(raw: object, field: str) -> tuple[str, ...]:
    return (parse_e164(_string_eq(raw, field), f"{field}.value"),)


#: filter key → (CallQuery keyword, parser)
PARSERS: dict[str, tuple[str, Callable[[object, str], Any]]] = {
    "agent": ("agent_ids", _agents),
    "call_id": ("call_ids", _call_id),
    "batch_call_id": ("campaign_ids", _batch),
    "call_status": ("statuses", _enum_filter(parse.STATUSES)),
    "call_type": ("call_types", _enum_filter(parse.CALL_TYPES)),
    "direction": ("directions", _enum_filter(parse.DIRECTIONS)),
    "disconnection_reason": ("disconnection_reasons", _enum_filter(parse.REASONS)),
    "user_sentiment": ("user_sentiments", _enum_filter(parse.SENTIMENTS, fold=True)),
    "duration_ms": ("duration_ms", _range),
    "start_timestamp": ("start_at", _range),
    "end_timestamp": ("end_at", _range),
    "from_number": ("from_numbers", _number_filter),
    "to_number": ("to_numbers", _number_filter),
    "metadata": ("metadata", _metadata),
    "transcript": ("search", _transcript),
}


def query_arguments(criteria: dict[str, Any] | None) -> dict[str, Any]:
    """CallQuery keyword arguments for a CallFilter; raises ValidationFailed or NoMatch."""
    out: dict[str, Any] = {}
    for key, raw in (criteria or {}).items():
        field = f"{WHERE}.{key}"
        if key in UNSUPPORTED:
            raise _fail(field, "filtering on this field is not supported by callplane", list(PARSERS))
        if key not in PARSERS:
            raise _fail(field, "is not a known filter", list(PARSERS))
        name, parser = PARSERS[key]
        out[name] = parser(raw, field)
    return out
