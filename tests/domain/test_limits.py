"""Dial-time rules as one pure decision: each rule's result, their order, and invariants."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.limits import DialFacts, Verdict, decide, local_midnight_ms
from callplane.domain.org import CallingWindow, Limits, Organization

SEOUL = ZoneInfo("Asia/Seoul")
NOON = int(datetime(2026, 3, 2, 12, 0, tzinfo=SEOUL).timestamp() * 1000)  # a Monday
ORG = Organization(
    id="org",
    name="org",
    created_at=0,
    window=CallingWindow(),
    limits=Limits(max_concurrent_calls=3, max_queue_wait_s=600, hourly_call_limit=10, daily_call_limit=50),
    balance_minor=1000,
    rate_per_minute=Decimal("100"),
)
OK = DialFacts(
    due_at=NOON,
    suppressed=False,
    from_number_owned=True,
    presentation_approved=True,
    live=0,
    dialed_last_hour=0,
    dialed_today=0,
)


def test_a_call_that_breaks_no_rule_is_dialled() -> None:
    assert decide(ORG, OK, NOON).verdict is Verdict.DIAL


def test_each_rule_gives_its_documented_result() -> None:
    cases = [
        (ORG, replace(OK, suppressed=True), CallStatus.CANCELED, DisconnectionReason.SUPPRESSED),
        (ORG, replace(OK, from_number_owned=False), CallStatus.ERROR, DisconnectionReason.DIAL_FAILED),
        (ORG, replace(OK, presentation_approved=False), CallStatus.ERROR, DisconnectionReason.DIAL_FAILED),
        (replace(ORG, balance_minor=0), OK, CallStatus.ERROR, DisconnectionReason.INSUFFICIENT_BALANCE),
        (replace(ORG, balance_minor=-5), OK, CallStatus.ERROR, DisconnectionReason.INSUFFICIENT_BALANCE),
        (
            ORG,
            replace(OK, dialed_last_hour=10),
            CallStatus.ERROR,
            DisconnectionReason.HOURLY_CALL_LIMIT_REACHED,
        ),
        (ORG, replace(OK, dialed_today=50), CallStatus.ERROR, DisconnectionReason.DAILY_CALL_LIMIT_REACHED),
        (
            ORG,
            replace(OK, live=3, due_at=NOON - 601_000),
            CallStatus.ERROR,
            DisconnectionReason.CONCURRENCY_LIMIT_REACHED,
        ),
    ]
    for org, facts, status, reason in cases:
        decision = decide(org, facts, NOON)
        assert (decision.verdict, decision.status, decision.reason) == (Verdict.REFUSE, status, reason), facts
        assert decision.detail


def test_a_full_organisation_keeps_the_call_waiting_until_its_wait_limit() -> None:
    assert decide(ORG, replace(OK, live=3, due_at=NOON - 600_000), NOON).verdict is Verdict.WAIT
    unlimited = replace(ORG, limits=replace(ORG.limits, max_queue_wait_s=None))
    assert decide(unlimited, replace(OK, live=3, due_at=0), NOON).verdict is Verdict.WAIT


def test_outside_the_window_the_call_waits_for_the_next_opening() -> None:
    night = int(datetime(2026, 3, 2, 21, 30, tzinfo=SEOUL).timestamp() * 1000)
    decision = decide(ORG, OK, night)
    assert decision.verdict is Verdict.DEFER
    assert decision.due_at == int(datetime(2026, 3, 3, 8, 0, tzinfo=SEOUL).timestamp() * 1000)
    # Closed window beats balance, caps and concurrency: nothing is refused that may wait.
    broke = replace(ORG, balance_minor=0)
    assert decide(broke, replace(OK, live=3, dialed_today=99, due_at=0), night).verdict is Verdict.DEFER
    # …but not the do-not-call list, which holds at any hour.
    assert decide(ORG, replace(OK, suppressed=True), night).verdict is Verdict.REFUSE


def test_postpaid_organisations_are_never_refused_for_balance() -> None:
    assert decide(replace(ORG, balance_minor=None), OK, NOON).verdict is Verdict.DIAL
    postpaid = replace(ORG, balance_minor=None, limits=replace(ORG.limits, max_concurrent_calls=50))
    assert decide(postpaid, replace(OK, live=40), NOON).verdict is Verdict.DIAL


def test_a_prepaid_balance_is_held_a_minute_for_each_live_call() -> None:
    # 250.00 KRW at 100.00 KRW a minute: two calls may run beside each other, not three.
    org = replace(ORG, balance_minor=25_000, limits=replace(ORG.limits, max_concurrent_calls=10))
    assert decide(org, replace(OK, live=0), NOON).verdict is Verdict.DIAL
    assert decide(org, replace(OK, live=1), NOON).verdict is Verdict.DIAL
    assert decide(org, replace(OK, live=2), NOON).verdict is Verdict.WAIT
    # A single call starts on any positive balance, as before.
    assert decide(replace(org, balance_minor=1), OK, NOON).verdict is Verdict.DIAL
    late = decide(org, replace(OK, live=2, due_at=NOON - 601_000), NOON)
    assert (late.verdict, late.status, late.reason) == (
        Verdict.REFUSE,
        CallStatus.ERROR,
        DisconnectionReason.INSUFFICIENT_BALANCE,
    )
    assert late.detail and "2 live calls" in late.detail


def test_local_midnight_follows_the_zone_and_its_daylight_saving() -> None:
    assert local_midnight_ms(NOON, "Asia/Seoul") == int(datetime(2026, 3, 2, tzinfo=SEOUL).timestamp() * 1000)
    # 2026-03-08 is the US spring-forward day: midnight is still 05:00 UTC (EST), noon is EDT.
    ny = ZoneInfo("America/New_York")
    noon_ny = int(datetime(2026, 3, 8, 12, 0, tzinfo=ny).timestamp() * 1000)
    expected = int(datetime(2026, 3, 8, 5, 0, tzinfo=UTC).timestamp() * 1000)
    assert local_midnight_ms(noon_ny, "America/New_York") == expected


facts_strategy = st.builds(
    DialFacts,
    due_at=st.integers(NOON - 7_200_000, NOON),
    suppressed=st.booleans(),
    from_number_owned=st.booleans(),
    presentation_approved=st.booleans(),
    live=st.integers(0, 5),
    dialed_last_hour=st.integers(0, 12),
    dialed_today=st.integers(0, 60),
)


@settings(max_examples=500, deadline=None)
@given(facts=facts_strategy, balance=st.one_of(st.none(), st.integers(-10, 50_000)), hour=st.integers(0, 23))
def test_a_dial_never_breaks_any_rule(facts: DialFacts, balance: int | None, hour: int) -> None:
    now = NOON + (hour - 12) * 3_600_000
    org = replace(ORG, balance_minor=balance)
    decision = decide(org, facts, now)
    if decision.verdict is Verdict.DIAL:
        assert not facts.suppressed and facts.from_number_owned and facts.presentation_approved
        assert org.window.is_open(now)
        assert balance is None or balance > 0
        assert balance is None or facts.live == 0 or balance >= (facts.live + 1) * 10_000
        assert facts.live < 3 and facts.dialed_last_hour < 10 and facts.dialed_today < 50
    if decision.verdict is Verdict.DEFER:
        assert decision.due_at is not None and decision.due_at > now and org.window.is_open(decision.due_at)
    if (
        decision.verdict is Verdict.REFUSE
        and decision.reason is DisconnectionReason.CONCURRENCY_LIMIT_REACHED
    ):
        assert facts.live >= 3 and now - facts.due_at > 600_000
