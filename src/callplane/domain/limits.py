"""The rules a queued call is checked against at dial time, as one pure decision.

The dispatcher gathers the facts in the claim transaction (`DialFacts`) and asks `decide`. The
order matters and is what a user would expect:

1. the callee is on the do-not-call list → `canceled` + `suppressed` (never dialled, at any hour);
2. the from_number is no longer owned, or the presentation number no longer approved →
   `error` + `dial_failed`, `error_detail` says which (callplane refuses to present a caller ID
   it may not use; the carrier is never asked, so this is not a carrier failure, but Vox has no
   closer word and `dial_failed` tells the client "this call could not be placed");
3. the calling window is closed → stays `queued`, due at the window's next opening (waiting for
   the window never counts as waiting for a slot, and no limit is consumed); a campaign's call
   also waits for its campaign's own window, and while its campaign is paused (due at the end
   of time until it resumes);
4. the balance is used up (`balance ≤ 0`, prepaid organisations only) → `error` +
   `insufficient_balance`;
5. the hourly cap (calls dialled in the last 60 minutes) or the daily cap (calls dialled since
   local midnight in the organisation's time zone) is reached → `error` +
   `hourly_call_limit_reached` / `daily_call_limit_reached`;
6. no free concurrency slot → stays `queued`; once it has waited longer than
   `max_queue_wait_s` past its due time → `error` + `concurrency_limit_reached`;
7. prepaid, with calls live: the balance must cover a minute of each live call and of this one
   at the organisation's rate (`balance_held`), else → stays `queued` until live calls end and
   release their minute (or the balance is topped up); past `max_queue_wait_s` → `error` +
   `insufficient_balance`. Without it a prepaid organisation with 1,000 KRW could start fifty
   calls at once and end thousands in debt; a single call still starts on any positive balance;
8. otherwise: dial.

Capped and refused calls never held a line: they are not "dialled" and count towards no cap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.campaign import PAUSED_DUE_AT, Gate
from callplane.domain.money import to_minor
from callplane.domain.org import Limits, Organization

HOUR_MS = 3_600_000


class Verdict(enum.StrEnum):
    DIAL = "dial"
    DEFER = "defer"  #: stay queued with a later due time (calling window)
    WAIT = "wait"  #: stay queued as is (no free slot)
    REFUSE = "refuse"  #: terminal without dialling


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    due_at: int | None = None  #: DEFER: when to look again
    status: CallStatus | None = None  #: REFUSE: the terminal status
    reason: DisconnectionReason | None = None
    detail: str | None = None

    @classmethod
    def refuse(cls, status: CallStatus, reason: DisconnectionReason, detail: str) -> Decision:
        return cls(Verdict.REFUSE, status=status, reason=reason, detail=detail)


DIAL = Decision(Verdict.DIAL)
WAIT = Decision(Verdict.WAIT)


@dataclass(frozen=True, slots=True)
class DialFacts:
    """What the database says about one queued call at dial time."""

    due_at: int
    suppressed: bool
    from_number_owned: bool
    presentation_approved: bool  #: True when the call has no presentation number
    live: int  #: the organisation's calls holding a slot (dialing, ringing, ongoing)
    dialed_last_hour: int
    dialed_today: int
    campaign: Gate | None = None  #: the call's campaign, if it was made for one


def local_midnight_ms(now_ms: int, timezone: str) -> int:
    """Unix ms of the most recent local midnight (the start of the daily cap's day)."""
    zone = ZoneInfo(timezone)
    local = datetime.fromtimestamp(now_ms / 1000, tz=zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return int(midnight.timestamp() * 1000)


def queue_wait_exceeded(due_at: int, limits: Limits, now_ms: int) -> bool:
    return limits.max_queue_wait_s is not None and now_ms - due_at > limits.max_queue_wait_s * 1000


def decide(org: Organization, facts: DialFacts, now_ms: int) -> Decision:
    if facts.suppressed:
        return Decision.refuse(
            CallStatus.CANCELED, DisconnectionReason.SUPPRESSED, "the callee is on the do-not-call list"
        )
    if not facts.from_number_owned:
        return Decision.refuse(
            CallStatus.ERROR,
            DisconnectionReason.DIAL_FAILED,
            "from_number is no longer a number owned by this organization",
        )
    if not facts.presentation_approved:
        return Decision.refuse(
            CallStatus.ERROR,
            DisconnectionReason.DIAL_FAILED,
            "presentation_number is no longer an approved presentation number of this organization",
        )
    if facts.campaign is not None:
        if facts.campaign.held:
            return Decision(Verdict.DEFER, due_at=PAUSED_DUE_AT)
        if not facts.campaign.window.is_open(now_ms):
            return Decision(Verdict.DEFER, due_at=facts.campaign.window.next_open(now_ms))
    if not org.window.is_open(now_ms):
        return Decision(Verdict.DEFER, due_at=org.window.next_open(now_ms))
    if org.balance_minor is not None and org.balance_minor <= 0:
        return Decision.refuse(
            CallStatus.ERROR,
            DisconnectionReason.INSUFFICIENT_BALANCE,
            "the organization's balance is used up",
        )
    limits = org.limits
    if limits.hourly_call_limit is not None and facts.dialed_last_hour >= limits.hourly_call_limit:
        return Decision.refuse(
            CallStatus.ERROR,
            DisconnectionReason.HOURLY_CALL_LIMIT_REACHED,
            f"{facts.dialed_last_hour} calls dialled in the last hour (limit {limits.hourly_call_limit})",
        )
    if limits.daily_call_limit is not None and facts.dialed_today >= limits.daily_call_limit:
        return Decision.refuse(
            CallStatus.ERROR,
            DisconnectionReason.DAILY_CALL_LIMIT_REACHED,
            f"{facts.dialed_today} calls dialled today in {org.window.timezone} "
            f"(limit {limits.daily_call_limit})",
        )
    if facts.live >= limits.max_concurrent_calls:
        if queue_wait_exceeded(facts.due_at, limits, now_ms):
            return concurrency_refusal(limits)
        return WAIT
    if balance_held(org, facts.live):
        if queue_wait_exceeded(facts.due_at, limits, now_ms):
            return Decision.refuse(
                CallStatus.ERROR,
                DisconnectionReason.INSUFFICIENT_BALANCE,
                f"the organization's balance is held for its {facts.live} live calls",
            )
        return WAIT
    return DIAL


def balance_held(org: Organization, live: int) -> bool:
    """Prepaid, with calls live: the balance does not cover a minute of each and of one more."""
    if org.balance_minor is None or live == 0:
        return False
    return org.balance_minor < (live + 1) * to_minor(org.rate_per_minute)


def concurrency_refusal(limits: Limits) -> Decision:
    return Decision.refuse(
        CallStatus.ERROR,
        DisconnectionReason.CONCURRENCY_LIMIT_REACHED,
        f"waited more than max_queue_wait_s={limits.max_queue_wait_s} for a free call slot",
    )
