"""The calls list's filter form ⇄ a `CallQuery`, the same specification every API list builds.

The form is a GET (filters live in the URL: shareable, bookmarkable, and the export link is the
same URL). Dates are days in the organisation's time zone; a custom period runs from the start
of `since` to the end of `until`. Bad input is a `ValidationFailed` naming the form field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.datastructures import QueryParams

from callplane.domain import bounds
from callplane.domain.call import CallStatus, CallType, Direction, DisconnectionReason, Sentiment
from callplane.domain.errors import ValidationFailed
from callplane.domain.ids import normalize_uuid
from callplane.domain.phone import parse_any
from callplane.domain.query import CallQuery, CountMode, Range

PAGE_SIZE = 50
DAY_MS = 24 * 3600 * 1000


class Preset(StrEnum):
    TODAY = "today"
    LAST_24H = "24h"
    LAST_7D = "7d"
    LAST_30D = "30d"
    ALL = "all"
    CUSTOM = "custom"


MetaValue = str | int | float | bool
E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True)
class Filters:
    """What the form says, as typed (to fill the form again) and as checked values."""

    preset: Preset = Preset.LAST_7D
    since: str = ""
    until: str = ""
    agent: str = ""
    #: Calls made for one campaign (its page links here).
    campaign: str = ""
    statuses: tuple[CallStatus, ...] = ()
    reason: DisconnectionReason | None = None
    call_type: CallType | None = None
    direction: Direction | None = None
    sentiment: Sentiment | None = None
    min_s: str = ""
    max_s: str = ""
    from_number: str = ""
    to_number: str = ""
    meta: str = ""
    q: str = ""
    #: The moment a rolling period ("last 7 days") is counted back from. Set on the first page
    #: and carried by the next-page links, so every page of a list is the same query (a cursor
    #: is bound to its query's filters) however much later it is asked for.
    at: int | None = None
    metadata: tuple[tuple[str, MetaValue], ...] = field(default=())

    def params(self) -> list[tuple[str, str]]:
        """The filters as URL parameters (no cursor): links to the next page and the export."""
        out: list[tuple[str, str]] = [("preset", self.preset.value)]
        if self.preset is Preset.CUSTOM:
            out += [("since", self.since), ("until", self.until)]
        if self.at is not None:
            out.append(("at", str(self.at)))
        out += [("status", s.value) for s in self.statuses]
        for name, value in (
            ("agent", self.agent),
            ("campaign", self.campaign),
            ("reason", self.reason or ""),
            ("type", self.call_type or ""),
            ("direction", self.direction or ""),
            ("sentiment", self.sentiment or ""),
            ("min_s", self.min_s),
            ("max_s", self.max_s),
            ("from", self.from_number),
            ("to", self.to_number),
            ("meta", self.meta),
            ("q", self.q),
        ):
            if value:
                out.append((name, str(value)))
        return out

    def query_string(self, **extra: str) -> str:
        return urlencode(self.params() + list(extra.items()))


def _choice(vocabulary: type[E], raw: str, name: str) -> E | None:
    if not raw:
        return None
    try:
        return vocabulary(raw)
    except ValueError:
        raise ValidationFailed.single(
            name, "is not one of the choices", [v.value for v in vocabulary]
        ) from None


def _seconds(raw: str, name: str) -> int | None:
    if not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValidationFailed.single(name, "must be a number of seconds") from None
    if not 0 <= value <= bounds.MAX_UNIX_MS / 1000:
        raise ValidationFailed.single(name, "must be a number of seconds, 0 or more")
    return round(value * 1000)


def _day(raw: str, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed.single(name, "must be a date, e.g. 2026-03-01") from None


def _metadata(raw: str) -> tuple[tuple[str, MetaValue], ...]:
    """`key=value` lines. A value that reads as a JSON number, `true`/`false` or a quoted
    string is that; anything else is the text as typed (metadata compares typed values)."""
    pairs: list[tuple[str, MetaValue]] = []
    for line in raw.splitlines():
        if not line.strip():
            continue
        key, eq, text = line.partition("=")
        if not eq or not key.strip():
            raise ValidationFailed.single("meta", "each line must be key=value")
        value: MetaValue = text.strip()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if isinstance(parsed, (str, int, float, bool)):
            value = parsed
        pairs.append((key.strip(), value))
    bounds.check_count(pairs, bounds.MAX_METADATA_FILTERS, "meta")
    return tuple(pairs)


def parse(params: QueryParams) -> Filters:
    raw_preset = params.get("preset", Preset.LAST_7D.value)
    preset = _choice(Preset, raw_preset, "preset") or Preset.LAST_7D
    raw_statuses = params.getlist("status")
    bounds.check_count(raw_statuses, len(CallStatus), "status")
    statuses = tuple(s for s in (_choice(CallStatus, r, "status") for r in raw_statuses) if s is not None)
    agent = params.get("agent", "")
    if agent and normalize_uuid(agent) is None:
        raise ValidationFailed.single("agent", "is not an agent id")
    campaign = params.get("campaign", "").strip()
    if campaign and normalize_uuid(campaign) is None:
        raise ValidationFailed.single("campaign", "is not a campaign id")
    q = params.get("q", "")
    bounds.check_chars(q, bounds.MAX_SEARCH_CHARS, "q")
    meta = params.get("meta", "")
    return Filters(
        preset=preset,
        since=params.get("since", ""),
        until=params.get("until", ""),
        agent=agent,
        campaign=campaign,
        statuses=statuses,
        reason=_choice(DisconnectionReason, params.get("reason", ""), "reason"),
        call_type=_choice(CallType, params.get("type", ""), "type"),
        direction=_choice(Direction, params.get("direction", ""), "direction"),
        sentiment=_choice(Sentiment, params.get("sentiment", ""), "sentiment"),
        min_s=params.get("min_s", ""),
        max_s=params.get("max_s", ""),
        from_number=params.get("from", "").strip(),
        to_number=params.get("to", "").strip(),
        meta=meta,
        q=q,
        at=_moment(params.get("at", "")),
        metadata=_metadata(meta),
    )


def _moment(raw: str) -> int | None:
    if not raw:
        return None
    if not raw.isdecimal() or len(raw) > 15 or int(raw) > bounds.MAX_UNIX_MS:
        raise ValidationFailed.single("at", "must be a time in Unix milliseconds")
    return int(raw)


def anchored(filters: Filters, now_ms: int) -> Filters:
    """The filters with their rolling period fixed at `now_ms` unless it is fixed already."""
    return filters if filters.at is not None else replace(filters, at=now_ms)


def period(filters: Filters, now_ms: int, timezone: str) -> Range:
    """The range of list times a preset or custom period means, in the organisation's zone.

    On `listed_at`, not `start_at`: a period on a dashboard includes the calls still queued.
    """
    zone = ZoneInfo(timezone)
    now_ms = filters.at if filters.at is not None else now_ms
    if filters.preset is Preset.ALL:
        return Range()
    if filters.preset is Preset.LAST_24H:
        return Range(now_ms - DAY_MS, None)
    if filters.preset in (Preset.LAST_7D, Preset.LAST_30D):
        days = 7 if filters.preset is Preset.LAST_7D else 30
        return Range(now_ms - days * DAY_MS, None)
    today = datetime.fromtimestamp(now_ms / 1000, tz=zone).date()
    if filters.preset is Preset.TODAY:
        return Range(_ms(today, zone), None)
    since, until = _day(filters.since, "since"), _day(filters.until, "until")
    if since is not None and until is not None and since > until:
        raise ValidationFailed.single("until", "is before the start date")
    return Range(
        None if since is None else _ms(since, zone),
        None if until is None else _ms(until + timedelta(days=1), zone) - 1,
    )


def _ms(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(), tzinfo=zone).timestamp() * 1000)


def to_query(
    filters: Filters,
    organization_id: str,
    now_ms: int,
    timezone: str,
    *,
    limit: int = PAGE_SIZE,
    count: CountMode = CountMode.NONE,
) -> CallQuery:
    low, high = _seconds(filters.min_s, "min_s"), _seconds(filters.max_s, "max_s")
    if low is not None and high is not None and low > high:
        raise ValidationFailed.single("max_s", "is below the minimum")
    return CallQuery(
        organization_id=organization_id,
        agent_ids=(normalize_uuid(filters.agent) or "",) if filters.agent else (),
        campaign_ids=(normalize_uuid(filters.campaign) or "",) if filters.campaign else (),
        statuses=filters.statuses,
        disconnection_reasons=(filters.reason,) if filters.reason else (),
        call_types=(filters.call_type,) if filters.call_type else (),
        directions=(filters.direction,) if filters.direction else (),
        user_sentiments=(filters.sentiment,) if filters.sentiment else (),
        from_numbers=(parse_any(filters.from_number, "from"),) if filters.from_number else (),
        to_numbers=(parse_any(filters.to_number, "to"),) if filters.to_number else (),
        listed_at=period(filters, now_ms, timezone),
        duration_ms=Range(low, high),
        metadata=filters.metadata,
        search=filters.q or None,
        # The search snippet is cut from the transcript; without a search the page skips it.
        include_transcript=bool(filters.q),
        limit=limit,
        count=count,
    )


#: The KPI strip's success rate counts this analysis field when the URL names none.
SUCCESS_DEFAULT = "call_successful"
_FIELD = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True)
class SuccessField:
    """`?success=<analysis field>` (a call succeeded when it is true) or `<field>=<value>`."""

    text: str
    field: str
    value: str | bool


def success_field(params: QueryParams) -> SuccessField:
    text = params.get("success", "").strip() or SUCCESS_DEFAULT
    name, eq, value = text.partition("=")
    if not _FIELD.fullmatch(name) or (eq and not 0 < len(value) <= 100):
        raise ValidationFailed.single("success", "must be an analysis field's name, or name=value")
    return SuccessField(text, name, value if eq else True)
