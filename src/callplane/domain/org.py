"""Organisations and the calling rules every dial is checked against.

The calling window is local wall-clock time in a named zone (never a fixed offset), a list of
allowed ISO weekdays, and `[start, end)` in minutes after midnight. A call due outside it waits
for the next opening; it is never dropped and never dialled outside the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from callplane.domain.errors import ValidationFailed

DEFAULT_TIMEZONE = "Asia/Seoul"
DEFAULT_WINDOW = (8 * 60, 20 * 60)  # 08:00–20:00
ALL_DAYS = "1234567"


@dataclass(frozen=True, slots=True)
class CallingWindow:
    timezone: str = DEFAULT_TIMEZONE
    start_min: int = DEFAULT_WINDOW[0]
    end_min: int = DEFAULT_WINDOW[1]
    days: str = ALL_DAYS

    def __post_init__(self) -> None:
        validate_timezone(self.timezone)
        if not (0 <= self.start_min < self.end_min <= 1440):
            raise ValidationFailed.single("calling_window", "needs 0 <= start < end <= 1440 minutes")
        if not self.days or any(d not in ALL_DAYS for d in self.days):
            raise ValidationFailed.single(
                "calling_window.days", "ISO weekdays 1 (Monday) to 7", list(ALL_DAYS)
            )

    @property
    def always_open(self) -> bool:
        return self.start_min == 0 and self.end_min == 1440 and set(self.days) == set(ALL_DAYS)

    def is_open(self, now_ms: int) -> bool:
        local = _local(now_ms, self.timezone)
        minute = local.hour * 60 + local.minute
        return str(local.isoweekday()) in self.days and self.start_min <= minute < self.end_min

    def next_open(self, now_ms: int) -> int:
        """`now_ms` when the window is open, otherwise the Unix ms of its next opening."""
        if self.is_open(now_ms):
            return now_ms
        zone = ZoneInfo(self.timezone)
        local = _local(now_ms, self.timezone)
        for day in range(8):
            date = (local + timedelta(days=day)).date()
            if str(date.isoweekday()) not in self.days:
                continue
            opening = datetime(date.year, date.month, date.day, tzinfo=zone) + timedelta(
                minutes=self.start_min
            )
            # Round-trip through UTC so a DST gap lands on a real instant.
            opening_ms = int(opening.timestamp() * 1000)
            if opening_ms > now_ms:
                return opening_ms
        raise AssertionError("a window with at least one weekday opens within 8 days")

    def describe(self) -> str:
        def hhmm(m: int) -> str:
            return f"{m // 60:02d}:{m % 60:02d}"

        return f"{hhmm(self.start_min)}–{hhmm(self.end_min)} {self.timezone}, days {self.days}"


def _local(now_ms: int, timezone: str) -> datetime:
    return datetime.fromtimestamp(now_ms / 1000, tz=ZoneInfo(timezone))


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed.single("timezone", f"{name!r} is not an IANA time zone") from None
    return name


@dataclass(frozen=True, slots=True)
class Limits:
    max_concurrent_calls: int = 10
    max_queue_wait_s: int | None = 3600
    hourly_call_limit: int | None = None
    daily_call_limit: int | None = None


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str
    created_at: int
    window: CallingWindow
    limits: Limits
    balance_minor: int | None  #: None: postpaid, never refused for balance
    rate_per_minute: Decimal  #: KRW
