"""Calling windows in local time, across days off and a DST gap."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callplane.domain.errors import ValidationFailed
from callplane.domain.org import CallingWindow


def ms(text: str, tz: str = "Asia/Seoul") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp() * 1000)


def test_default_is_eight_to_eight_in_seoul() -> None:
    window = CallingWindow()
    assert window.is_open(ms("2026-05-11 08:00"))
    assert window.is_open(ms("2026-05-11 19:59"))
    assert not window.is_open(ms("2026-05-11 20:00"))
    assert window.next_open(ms("2026-05-11 20:55")) == ms("2026-05-12 08:00")
    assert window.next_open(ms("2026-05-12 03:00")) == ms("2026-05-12 08:00")


def test_weekdays_only_skips_the_weekend() -> None:
    window = CallingWindow(days="12345")
    friday_night = ms("2026-05-15 21:00")  # a Friday
    assert window.next_open(friday_night) == ms("2026-05-18 08:00")  # Monday


def test_dst_gap_lands_on_a_real_instant() -> None:
    window = CallingWindow(timezone="America/New_York", start_min=2 * 60 + 30, end_min=5 * 60)
    opening = window.next_open(ms("2026-03-08 00:00", "America/New_York"))
    assert window.is_open(opening) or opening > ms("2026-03-08 00:00", "America/New_York")


@given(
    st.integers(min_value=1_700_000_000_000, max_value=1_900_000_000_000),
    st.sampled_from(["Asia/Seoul", "America/New_York", "Europe/Berlin"]),
)
def test_next_open_is_open_and_not_in_the_past(now: int, tz: str) -> None:
    window = CallingWindow(timezone=tz, start_min=9 * 60, end_min=18 * 60, days="135")
    opening = window.next_open(now)
    assert opening >= now
    assert window.is_open(opening) or window.is_open(opening + 60_000)


@pytest.mark.parametrize(
    "kwargs", [{"timezone": "Mars/Olympus"}, {"start_min": 600, "end_min": 500}, {"days": "8"}]
)
def test_invalid_windows(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationFailed):
        CallingWindow(**kwargs)  # type: ignore[arg-type]
