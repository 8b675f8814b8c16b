"""The facts a call is dialled on, read the way the claim pass reads them.

The claim pass (`engine.jobs.dispatcher`) gathers, per organisation, its numbers, live calls and
recent dials, and hands each call's facts to `domain.limits.decide`. The same gathering answers
"why is this call still waiting" (`outlook`, the dashboard) and a carrier's incoming call is
started as a `Claimed` run like a dialled one: so they live here, beside the lifecycle, where
services and jobs both reach them without a service importing a job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection

from callplane.domain.call import Call
from callplane.domain.campaign import Gate
from callplane.domain.limits import HOUR_MS, Decision, DialFacts, decide, local_midnight_ms
from callplane.domain.org import Organization
from callplane.store import campaigns as campaign_store
from callplane.store import queue
from callplane.store.queue import NumberFacts


@dataclass(frozen=True, slots=True)
class Claimed:
    call: Call  #: as it is now: dialing, with the new attempt and start_at
    attempt: int  #: the fence for every later change of this run
    claimed_at: int


@dataclass
class OrgState:
    org: Organization
    numbers: NumberFacts
    live: int
    dialed_last_hour: int
    dialed_today: int
    #: The gates of this organisation's campaigns seen in this pass (read once per pass).
    campaigns: dict[str, Gate] = field(default_factory=dict)


def org_state(conn: Connection, org: Organization, calls: list[Call], now: int) -> OrgState:
    limits = org.limits
    # The last hour is (now - 1 h, now]: a call dialled exactly an hour ago no longer counts.
    hour = queue.dialed_since(conn, org.id, now - HOUR_MS + 1) if limits.hourly_call_limit else 0
    today = (
        queue.dialed_since(conn, org.id, local_midnight_ms(now, org.window.timezone))
        if limits.daily_call_limit
        else 0
    )
    return OrgState(org, queue.number_facts(conn, org.id, calls), queue.live_count(conn, org.id), hour, today)


def facts(call: Call, state: OrgState) -> DialFacts:
    return DialFacts(
        due_at=call.due_at,
        suppressed=call.to_number in state.numbers.suppressed,
        from_number_owned=call.from_number in state.numbers.owned,
        presentation_approved=(
            call.presentation_number is None
            or call.presentation_number in state.numbers.approved_presentations
        ),
        live=state.live,
        dialed_last_hour=state.dialed_last_hour,
        dialed_today=state.dialed_today,
        campaign=state.campaigns.get(call.campaign_id) if call.campaign_id else None,
    )


@dataclass(frozen=True, slots=True)
class Outlook:
    """What the next claim pass would decide for a queued call, and the facts it would use."""

    decision: Decision
    facts: DialFacts
    org: Organization
    due: bool  #: its due time has come (else the dispatcher does not look at it yet)


def outlook(conn: Connection, org: Organization, call: Call, now: int) -> Outlook:
    """The dispatcher's own facts and `decide` for one queued call, read without claiming or
    locking anything: why a call is still waiting, as the dashboard shows it."""
    state = org_state(conn, org, [call], now)
    if call.campaign_id:
        state.campaigns.update(campaign_store.gates(conn, org.id, {call.campaign_id}))
    call_facts = facts(call, state)
    return Outlook(decide(org, call_facts, now), call_facts, org, call.due_at <= now)
