"""A campaign's windows, and what becomes of a task after its call."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.campaign import RetryRule, TaskStatus, Windows, after_call
from callplane.domain.errors import ValidationFailed
from callplane.domain.org import CallingWindow

SEOUL = ZoneInfo("Asia/Seoul")


def at(day: int, hour: int, minute: int = 0) -> int:
    """Unix ms of 2026-03-<day> hh:mm in Seoul (the 2nd is a Monday)."""
    return int(datetime(2026, 3, day, hour, minute, tzinfo=SEOUL).timestamp() * 1000)


def test_windows_are_open_when_any_is_and_open_next_at_the_first_opening() -> None:
    morning = CallingWindow(start_min=9 * 60, end_min=12 * 60, days="12345")
    saturday = CallingWindow(start_min=14 * 60, end_min=16 * 60, days="6")
    windows = Windows((morning, saturday))
    assert windows.is_open(at(2, 10)) and windows.is_open(at(7, 15))
    assert not windows.is_open(at(2, 13)) and not windows.is_open(at(7, 10))
    assert windows.next_open(at(2, 10)) == at(2, 10)
    assert windows.next_open(at(2, 13)) == at(3, 9)  # Monday afternoon → Tuesday morning
    assert windows.next_open(at(6, 13)) == at(7, 14)  # Friday afternoon → Saturday 14:00
    assert windows.next_open(at(7, 17)) == at(9, 9)  # Saturday evening → Monday morning
    assert Windows.from_json("Asia/Seoul", windows.to_json()) == windows


def test_windows_are_one_to_ten_in_one_time_zone() -> None:
    with pytest.raises(ValidationFailed):
        Windows(())
    with pytest.raises(ValidationFailed):
        Windows(tuple(CallingWindow(start_min=i, end_min=i + 1) for i in range(11)))
    with pytest.raises(ValidationFailed):
        Windows((CallingWindow(), CallingWindow(timezone="Asia/Tokyo")))


def test_a_call_refused_for_balance_gives_the_attempt_back() -> None:
    rule = RetryRule(max_attempts=1)
    refused = after_call(CallStatus.ERROR, DisconnectionReason.INSUFFICIENT_BALANCE, 1, rule, 5)
    assert refused.status is TaskStatus.PENDING and refused.refund and refused.due_at == 5
    failed = after_call(CallStatus.ERROR, DisconnectionReason.DIAL_FAILED, 1, rule, 5)
    assert failed.status is TaskStatus.FAILED and not failed.refund
