"""One claim pass: find due calls, check every rule at dial time, and claim what may be dialled.

The whole pass is one write transaction (see `store.queue` for the locking on each database):

1. organisations whose live calls already fill their limit are left out of the candidate scan,
   so a full organisation's backlog can never crowd the others out of it; only its calls that
   waited past `max_queue_wait_s` are fetched, to be refused;
2. each remaining organisation is locked, its live calls counted and its caps read, then its
   calls are decided by `domain.limits.decide` — round-robin across organisations, so one
   organisation's backlog cannot take a worker's whole capacity while others wait;
3. `DIAL` claims the call (`queued → dialing`, attempt + 1, lease) up to the worker's free
   capacity; `DEFER` moves its due time to the window's next opening; `REFUSE` ends it with its
   reason (post-call and `call_ended` included); `WAIT` leaves it queued.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import zip_longest

from sqlalchemy import Connection

from callplane.domain.call import Call, CallStatus
from callplane.domain.campaign import Gate
from callplane.domain.limits import (
    HOUR_MS,
    Decision,
    DialFacts,
    Verdict,
    balance_held,
    decide,
    local_midnight_ms,
)
from callplane.domain.org import Organization
from callplane.engine import lifecycle
from callplane.store import campaigns as campaign_store
from callplane.store import queue
from callplane.store.db import Database
from callplane.store.lifecycle import Ending
from callplane.store.queue import NumberFacts


@dataclass(frozen=True, slots=True)
class Claimed:
    call: Call  #: as it is now: dialing, with the new attempt and start_at
    attempt: int  #: the fence for every later change of this run
    claimed_at: int


@dataclass
class PassResult:
    claimed: list[Claimed] = field(default_factory=list)
    refused: int = 0
    deferred: int = 0
    waiting: int = 0
    scanned: int = 0
    #: The scan was cut at its limit: more due calls may be waiting behind it.
    more: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.claimed or self.refused or self.deferred)


@dataclass
class _OrgState:
    org: Organization
    numbers: NumberFacts
    live: int
    dialed_last_hour: int
    dialed_today: int
    #: The gates of this organisation's campaigns seen in this pass (read once per pass).
    campaigns: dict[str, Gate] = field(default_factory=dict)


def dispatch(
    db: Database, *, owner: str, now: int, capacity: int, lease_ms: int, scan_limit: int
) -> PassResult:
    result = PassResult()
    with db.read() as conn:
        # An idle worker polls: it must not take SQLite's write lock (or PostgreSQL row locks)
        # every second just to find nothing.
        if not queue.anything_due(conn, now):
            return result
    with db.write() as conn:
        exclude = queue.full_organizations(conn)
        overdue = queue.overdue_calls(conn, now, scan_limit, among=exclude)
        states: dict[str, _OrgState] = {}
        batch: list[Call] = list(overdue)
        # Scan again, leaving out organisations this scan filled or could not lock, until the
        # capacity is used or the queue holds nothing else that is due.
        while True:
            due = queue.due_calls(conn, now, scan_limit, exclude=exclude)
            result.scanned += len(due) + len(batch)
            result.more = len(due) >= scan_limit
            _decide_batch(conn, [*batch, *due], states, result, owner, now, capacity, lease_ms)
            batch = []
            if not result.more or len(result.claimed) >= capacity:
                break
            seen = {c.organization_id for c in due}
            done = {o for o in seen if o not in states or _cannot_start_more(states[o])}
            if not done - exclude:
                break
            exclude |= done
    return result


def _decide_batch(
    conn: Connection,
    found: list[Call],
    states: dict[str, _OrgState],
    result: PassResult,
    owner: str,
    now: int,
    capacity: int,
    lease_ms: int,
) -> None:
    by_org: dict[str, list[Call]] = defaultdict(list)
    for call in found:
        by_org[call.organization_id].append(call)
    fresh = [o for o in by_org if o not in states]
    for org_id, org in queue.lock_organizations(conn, fresh).items():
        states[org_id] = _state(conn, org, by_org[org_id], now)
    for org_id in by_org:
        if org_id in states and org_id not in fresh:
            # Seen in an earlier scan of this pass: its number facts need these calls too.
            states[org_id].numbers = queue.number_facts(conn, org_id, by_org[org_id])
    for org_id, found_calls in by_org.items():
        if org_id in states:
            state = states[org_id]
            wanted = {c.campaign_id for c in found_calls if c.campaign_id} - state.campaigns.keys()
            if wanted:  # ordinary calls cost nothing here
                state.campaigns.update(campaign_store.gates(conn, org_id, wanted))
    groups = [by_org[o] for o in sorted(by_org) if o in states]
    for call in _round_robin(groups):
        _decide_one(conn, call, states[call.organization_id], result, owner, now, capacity, lease_ms)


def _state(conn: Connection, org: Organization, calls: list[Call], now: int) -> _OrgState:
    limits = org.limits
    # The last hour is (now - 1 h, now]: a call dialled exactly an hour ago no longer counts.
    hour = queue.dialed_since(conn, org.id, now - HOUR_MS + 1) if limits.hourly_call_limit else 0
    today = (
        queue.dialed_since(conn, org.id, local_midnight_ms(now, org.window.timezone))
        if limits.daily_call_limit
        else 0
    )
    return _OrgState(
        org, queue.number_facts(conn, org.id, calls), queue.live_count(conn, org.id), hour, today
    )


def _facts(call: Call, state: _OrgState) -> DialFacts:
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
    state = _state(conn, org, [call], now)
    if call.campaign_id:
        state.campaigns.update(campaign_store.gates(conn, org.id, {call.campaign_id}))
    facts = _facts(call, state)
    return Outlook(decide(org, facts, now), facts, org, call.due_at <= now)


def _cannot_start_more(state: _OrgState) -> bool:
    """Every further call of this organisation would wait: leave it out of the next scan, so
    its backlog cannot fill every scan while other organisations' calls fall due behind it."""
    return state.live >= state.org.limits.max_concurrent_calls or balance_held(state.org, state.live)


def _round_robin(groups: list[list[Call]]) -> Iterator[Call]:
    for row in zip_longest(*groups):
        yield from (c for c in row if c is not None)


def _decide_one(
    conn: Connection,
    call: Call,
    state: _OrgState,
    result: PassResult,
    owner: str,
    now: int,
    capacity: int,
    lease_ms: int,
) -> None:
    decision = decide(state.org, _facts(call, state), now)
    if decision.verdict is Verdict.DIAL:
        if len(result.claimed) >= capacity:
            result.waiting += 1
            return
        attempt = queue.start_dialing(conn, call, owner=owner, now=now, lease_ms=lease_ms)
        if attempt is None:
            return
        state.live += 1
        state.dialed_last_hour += 1
        state.dialed_today += 1
        dialing = replace(call, status=CallStatus.DIALING, attempt=attempt, start_at=now, updated_at=now)
        result.claimed.append(Claimed(dialing, attempt, now))
    elif decision.verdict is Verdict.DEFER:
        assert decision.due_at is not None
        queue.defer(conn, call, decision.due_at, now)
        result.deferred += 1
    elif decision.verdict is Verdict.REFUSE:
        assert decision.status is not None and decision.reason is not None
        ending = Ending(decision.status, decision.reason, end_at=now, error_detail=decision.detail)
        if lifecycle.ended(conn, call, ending, now=now, fence=call.attempt):
            result.refused += 1
    else:
        result.waiting += 1
