"""One claim pass: find due calls, check every rule at dial time, and claim what may be dialled.

The whole pass is one write transaction (see `store.queue` for the locking on each database):

1. organisations whose live calls already fill their limit are left out of the candidate scan,
   so a full organisation's backlog can never crowd the others out of it; only its calls that
   waited past `max_queue_wait_s` are fetched, to be refused;
2. each remaining organisation is locked, its live calls counted and its caps read, then its
   calls are decided by `domain.limits.decide` — round-robin across organisations, so one
   organisation's backlog cannot take a worker's whole capacity while others wait;
3. `DIAL` admits the call up to the worker's free capacity; the batch's admitted calls are
   claimed together (`queued → dialing`, attempt + 1, lease: one statement); `DEFER` moves
   its due time to the window's next opening; `REFUSE` ends it with its reason (post-call and
   `call_ended` included); `WAIT` leaves it queued.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import zip_longest

from sqlalchemy import Connection

from callplane.domain.call import Call, CallStatus
from callplane.domain.limits import (
    Verdict,
    balance_held,
    decide,
)
from callplane.engine import lifecycle
from callplane.engine.dialing import Claimed, OrgState, facts, org_state
from callplane.store import campaigns as campaign_store
from callplane.store import queue
from callplane.store.db import Database
from callplane.store.lifecycle import Ending


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
        states: dict[str, OrgState] = {}
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
    states: dict[str, OrgState],
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
        states[org_id] = org_state(conn, org, by_org[org_id], now)
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
    dialing: list[Call] = []
    for call in _round_robin(groups):
        _decide_one(conn, call, states[call.organization_id], result, dialing, now, capacity)
    # The calls admitted are claimed together: one statement for the batch.
    attempts = queue.start_dialing(conn, dialing, owner=owner, now=now, lease_ms=lease_ms)
    for call in dialing:
        attempt = attempts.get(call.id)
        if attempt is None:
            # Taken meanwhile (it cannot be, under this pass's locks; if it were, the slot it
            # was counted in stays free for the next pass).
            state = states[call.organization_id]
            state.live -= 1
            state.dialed_last_hour -= 1
            state.dialed_today -= 1
            continue
        claimed = replace(call, status=CallStatus.DIALING, attempt=attempt, start_at=now, updated_at=now)
        result.claimed.append(Claimed(claimed, attempt, now))


def _cannot_start_more(state: OrgState) -> bool:
    """Every further call of this organisation would wait: leave it out of the next scan, so
    its backlog cannot fill every scan while other organisations' calls fall due behind it."""
    return state.live >= state.org.limits.max_concurrent_calls or balance_held(state.org, state.live)


def _round_robin(groups: list[list[Call]]) -> Iterator[Call]:
    for row in zip_longest(*groups):
        yield from (c for c in row if c is not None)


def _decide_one(
    conn: Connection,
    call: Call,
    state: OrgState,
    result: PassResult,
    dialing: list[Call],
    now: int,
    capacity: int,
) -> None:
    """Decide one call; one to dial joins `dialing` (claimed with the rest of its batch)."""
    decision = decide(state.org, facts(call, state), now)
    if decision.verdict is Verdict.DIAL:
        if len(result.claimed) + len(dialing) >= capacity:
            result.waiting += 1
            return
        state.live += 1
        state.dialed_last_hour += 1
        state.dialed_today += 1
        dialing.append(call)
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
