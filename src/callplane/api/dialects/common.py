"""Small translation helpers the dialects share.

Nothing here knows a vendor: it maps vocabularies, renames the core's field names into a
dialect's, and says when a filter can match no call at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from fastapi.exceptions import RequestValidationError

from callplane.api.dialects.base import UNKNOWN_FIELD, field_errors
from callplane.domain import bounds
from callplane.domain.call import Call, CallStatus
from callplane.domain.errors import FieldError, ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.query import Range

MAX_FREEFORM_BYTES = 50_000

T = TypeVar("T")


#: What pydantic appends to an error's location to say which member of a union it tried.
_UNION_TAG = re.compile(r"(int|str|bool|float|none|(list|dict|tuple|set)\[.*\]|[a-z-]+\[.*\])")


def request_errors(exc: RequestValidationError) -> list[FieldError]:
    """FastAPI's validation errors as FieldErrors, one per field.

    A value that fits no member of a union (`int | str`) fails once per member, each with the
    member's name appended to the location; a client sent one wrong value, so it gets one error.
    """
    merged: dict[str, FieldError] = {}
    for error in field_errors(exc):
        parts = error.field.split(".")
        while len(parts) > 1 and _UNION_TAG.fullmatch(parts[-1]):
            parts.pop()
        field = ".".join(parts)
        seen = merged.get(field)
        if seen is None:
            merged[field] = FieldError(field, error.reason, error.allowed)
        elif error.reason not in seen.reason:
            merged[field] = FieldError(field, f"{seen.reason}, or {error.reason}", seen.allowed)
    return list(merged.values())


def described(errors: Sequence[FieldError]) -> str:
    """One line naming every mistake, for a dialect's `message`."""
    return "; ".join(e.describe() for e in errors)


def listed(errors: Sequence[FieldError]) -> list[dict[str, Any]]:
    """The field-level list callplane adds to each dialect's 400 body."""
    return [
        {"field": e.field, "reason": e.reason, **({"allowed_values": list(e.allowed)} if e.allowed else {})}
        for e in errors
    ]


class NoMatch(Exception):
    """A filter names only values no callplane call can have (e.g. Retell's `ivr_reached`).

    The handler answers an empty page instead of running a query: an empty tuple in a
    `CallQuery` means "no filter", which is the opposite.
    """


def lookup(
    values: Iterable[Any], table: Mapping[str, tuple[T, ...]], field: str, *, fold: bool = True
) -> tuple[T, ...]:
    """Map each vendor value to the internal values it stands for, naming allowed values on error.

    A vendor value that stands for no internal value is allowed but contributes nothing; when the
    whole list contributes nothing, the filter matches no call (`NoMatch`).
    """
    out: list[T] = []
    given = False
    for i, value in enumerate(values):
        given = True
        key = value.lower() if fold and isinstance(value, str) else value
        if not isinstance(key, str) or key not in table:
            raise ValidationFailed.single(f"{field}[{i}]", f"{value!r} is not allowed", list(table))
        out.extend(table[key])
    if given and not out:
        raise NoMatch(field)
    return tuple(dict.fromkeys(out))


def inverse(forward: Mapping[T, str]) -> dict[str, tuple[T, ...]]:
    """`{internal: vendor}` → `{vendor: (internal, …)}`, in the forward table's order."""
    out: dict[str, list[T]] = {}
    for internal, vendor in forward.items():
        out.setdefault(vendor, []).append(internal)
    return {k: tuple(v) for k, v in out.items()}


def renamed(exc: ValidationFailed, names: Mapping[str, str]) -> ValidationFailed:
    """The same errors with the core's field names (`agent.agent_id`) in the dialect's words."""
    return ValidationFailed(
        [FieldError(names.get(e.field, e.field), e.reason, e.allowed) for e in exc.errors]
    )


def freeform(value: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if len(orjson.dumps(value)) > MAX_FREEFORM_BYTES:
        raise ValidationFailed.single(field, f"must be at most {MAX_FREEFORM_BYTES} bytes of JSON")
    return dict(value)


class Mistakes:
    """Collects every field's error, so that one answer names all of a request's mistakes."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def attempt(self, fn: Callable[..., T], *args: Any) -> T | None:
        """`fn(*args)`, or None with its errors collected."""
        try:
            return fn(*args)
        except ValidationFailed as exc:
            self.errors.extend(exc.errors)
            return None

    def add(self, field: str, reason: str, allowed: Sequence[str] | None = None) -> None:
        self.errors.append(FieldError(field, reason, allowed))

    def raise_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)


def known_fields(body: Mapping[str, Any], allowed: Sequence[str]) -> None:
    """Refuse top-level fields a JSON body does not define, naming each: a misspelled or
    unsupported field is never silently dropped."""
    unknown = [name for name in body if name not in allowed]
    if unknown:
        raise ValidationFailed([FieldError(name, UNKNOWN_FIELD, allowed) for name in unknown])


def idempotency_key(value: str | None, field: str) -> str | None:
    """1–255 printable characters (no control characters: they cannot be stored everywhere)."""
    if value is not None and not (1 <= len(value) <= 255 and value.isprintable()):
        raise ValidationFailed.single(field, "must be 1–255 printable characters")
    return value


_NOT_AN_AGENT = "must be the UUID of an agent of this organization"


def agent_uuid(value: str, field: str, reason: str = _NOT_AN_AGENT) -> str:
    agent_id = normalize_uuid(value)
    if agent_id is None:
        raise ValidationFailed.single(field, reason)
    return agent_id


def search_text(value: str | None, field: str) -> str | None:
    """A transcript search term, or None when empty (an empty search filters nothing)."""
    if value is None or value == "":
        return None
    bounds.check_chars(value, bounds.MAX_SEARCH_CHARS, field)
    return value


def capped(values: Sequence[T], field: str) -> Sequence[T]:
    """A list filter's values, refused past `bounds.MAX_FILTER_VALUES` before any is parsed."""
    bounds.check_count(values, bounds.MAX_FILTER_VALUES, field)
    return values


def metadata_filter(
    pairs: Sequence[tuple[str, str | int | float | bool]], field: str
) -> tuple[tuple[str, str | int | float | bool], ...]:
    """Metadata equality filters, refused past their count and length caps (`domain.bounds`)."""
    bounds.check_count(pairs, bounds.MAX_METADATA_FILTERS, field)
    for key, value in pairs:
        bounds.check_chars(key, bounds.MAX_METADATA_FILTER_CHARS, f"{field} key")
        if isinstance(value, str):
            bounds.check_chars(value, bounds.MAX_METADATA_FILTER_CHARS, f"{field}.{key}")
    return tuple(pairs)


def int_range(
    low: float | None, high: float | None, field: str, *, low_open: bool = False, high_open: bool = False
) -> Range:
    """Inclusive integer bounds from possibly fractional, possibly exclusive ones.

    Times and durations are never negative nor past `bounds.MAX_UNIX_MS`, so bounds outside that
    span are clamped to it (the databases cannot compare against a number past 64 bits), and a
    span that lies wholly outside it matches no call.
    """
    lo = hi = None
    for bound in (low, high):
        if bound is not None and (isinstance(bound, bool) or not math.isfinite(bound)):
            raise ValidationFailed.single(field, "bounds must be finite numbers")
    if low is not None:
        lo = math.floor(low) + 1 if low_open else math.ceil(low)
    if high is not None:
        hi = math.ceil(high) - 1 if high_open else math.floor(high)
    if lo is not None and hi is not None and lo > hi:
        if low is not None and high is not None and low > high:
            raise ValidationFailed.single(field, "the lower bound is above the upper bound")
        raise NoMatch(field)
    if (lo is not None and lo > bounds.MAX_UNIX_MS) or (hi is not None and hi < 0):
        raise NoMatch(field)
    return Range(None if lo is None else _clamp(lo), None if hi is None else _clamp(hi))


def _clamp(value: int) -> int:
    return max(0, min(bounds.MAX_UNIX_MS, value))


def check_offset(offset: int, max_offset: int, field: str) -> None:
    if offset > max_offset:
        raise ValidationFailed.single(
            field, f"reaches past the first {max_offset} matching calls; narrow the filters instead"
        )


def iso(ms: int | None) -> str | None:
    """Unix ms → ISO 8601 in UTC with milliseconds (`2026-01-01T00:00:00.000+00:00`)."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


def answered(call: Call) -> bool:
    """Whether a person (or a machine) picked up: the call reached `ongoing` at some point."""
    return call.answered_at is not None or call.status in (CallStatus.ONGOING, CallStatus.ENDED)


def strings(values: Sequence[Any] | Any) -> list[Any]:
    """A vendor field that takes a list or one bare value, as a list."""
    if values is None:
        return []
    return list(values) if isinstance(values, list) else [values]
