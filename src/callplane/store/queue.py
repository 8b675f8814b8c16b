"""The calls table as a queue: finding due calls, admission facts, the claim and the lease.

A claim pass runs in one write transaction. On PostgreSQL the candidate rows are taken with
`FOR UPDATE SKIP LOCKED` (two workers never see the same call) and each organisation row with
`FOR UPDATE SKIP LOCKED` before its live calls are counted: that lock serialises admission per
organisation, so two workers cannot both take its last slot (a worker that finds the row locked
skips the organisation this pass). On SQLite `Database.write()` is `BEGIN IMMEDIATE`, a single
writer, so the same statements are serial by construction (SQLite ignores `FOR UPDATE`).

The claim itself moves `queued → dialing` with `attempt = attempt + 1`: the attempt number is
the fence every later status change of that run must present. A call whose lease expires is
ended by the reaper and never claimed again (only `queued` calls are claimable).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    and_,
    cast,
    func,
    or_,
    select,
    tuple_,
    update,
)

from callplane.domain.call import LIVE_STATUSES, Call, CallStatus
from callplane.domain.org import Organization
from callplane.store import calls as call_store
from callplane.store import orgs as org_store
from callplane.store.calls import SUMMARY_COLUMNS, row_to_call
from callplane.store.prepared import Prepared, param
from callplane.store.schema import calls, organizations, phone_numbers, presentation_numbers, suppressions

LIVE = [s.value for s in LIVE_STATUSES]


def _skip_locked(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def anything_due(conn: Connection, now: int) -> bool:
    """A cheap read before taking the write lock: is any queued call due?"""
    return _ANYTHING_DUE.first(conn, now=now) is not None


_ANYTHING_DUE = Prepared(
    lambda _dialect: (
        select(calls.c.id)
        .where(calls.c.status == CallStatus.QUEUED.value, calls.c.due_at <= param("now", calls.c.due_at.type))
        .limit(1)
    )
)


def full_organizations(conn: Connection) -> set[str]:
    """Organisations that cannot start another call now (a hint; admission recounts): their live
    calls fill their concurrency limit, or hold their whole prepaid balance
    (`domain.limits.balance_held`)."""
    return {row[0] for row in _FULL.execute(conn, {})[1]}


def _full(_dialect: str) -> Select[tuple[str]]:
    live = (
        select(calls.c.organization_id, func.count().label("live"))
        .where(calls.c.status.in_(LIVE))
        .group_by(calls.c.organization_id)
        .subquery()
    )
    held = and_(
        organizations.c.balance_minor.is_not(None),
        organizations.c.balance_minor < (live.c.live + 1) * organizations.c.rate_per_minute_minor,
    )
    return (
        select(live.c.organization_id)
        .join(organizations, organizations.c.id == live.c.organization_id)
        .where(or_(live.c.live >= organizations.c.max_concurrent_calls, held))
    )


#: Run by every claim pass: prepared (`store.prepared`).
_FULL = Prepared(_full)


def due_calls(conn: Connection, now: int, limit: int, exclude: Collection[str]) -> list[Call]:
    """Queued calls that are due, oldest first, outside the given (full) organisations; locked."""
    query = (
        select(*SUMMARY_COLUMNS)
        .where(calls.c.status == CallStatus.QUEUED.value, calls.c.due_at <= now)
        .order_by(calls.c.due_at, calls.c.organization_id, calls.c.id)
        .limit(limit)
    )
    if exclude:
        query = query.where(calls.c.organization_id.not_in(sorted(exclude)))
    if _skip_locked(conn):
        query = query.with_for_update(skip_locked=True, of=calls)
    return [row_to_call(r, with_transcript=False) for r in conn.execute(query)]


def overdue_calls(conn: Connection, now: int, limit: int, among: Collection[str]) -> list[Call]:
    """Queued calls of the given organisations that waited past their `max_queue_wait_s`; locked."""
    if not among:
        return []
    query = (
        select(*SUMMARY_COLUMNS)
        .join(organizations, organizations.c.id == calls.c.organization_id)
        .where(
            calls.c.status == CallStatus.QUEUED.value,
            calls.c.organization_id.in_(sorted(among)),
            organizations.c.max_queue_wait_s.is_not(None),
            calls.c.due_at + cast(organizations.c.max_queue_wait_s, BigInteger) * 1000 < now,
        )
        .order_by(calls.c.due_at, calls.c.organization_id, calls.c.id)
        .limit(limit)
    )
    if _skip_locked(conn):
        query = query.with_for_update(skip_locked=True, of=calls)
    return [row_to_call(r, with_transcript=False) for r in conn.execute(query)]


def lock_organizations(conn: Connection, ids: Iterable[str]) -> dict[str, Organization]:
    """The organisations whose admission this transaction may decide (others are busy: skipped)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = select(organizations.c.id).where(organizations.c.id.in_(wanted)).order_by(organizations.c.id)
    if _skip_locked(conn):
        query = query.with_for_update(skip_locked=True)
    locked = conn.execute(query).scalars().all()
    return {org_id: org_store.get_organization(conn, org_id) for org_id in locked}


def live_count(conn: Connection, organization_id: str) -> int:
    row = _LIVE_COUNT.first(conn, o=organization_id)
    assert row is not None
    return int(row[0])


_LIVE_COUNT = Prepared(
    lambda _dialect: select(func.count()).where(
        calls.c.organization_id == param("o", calls.c.organization_id.type), calls.c.status.in_(LIVE)
    )
)


def dialed_since(conn: Connection, organization_id: str, since: int) -> int:
    """Calls dialled (claimed for dialling) at or after `since`. `listed_at` = `start_at` once
    dialled, so the range runs on `ix_calls_listed`; `start_at` drops still-queued calls."""
    return int(
        conn.execute(
            select(func.count()).where(
                calls.c.organization_id == organization_id,
                calls.c.listed_at >= since,
                calls.c.start_at >= since,
            )
        ).scalar_one()
    )


@dataclass(frozen=True, slots=True)
class NumberFacts:
    owned: set[str]
    approved_presentations: set[str]
    suppressed: set[str]


def number_facts(conn: Connection, organization_id: str, batch: Iterable[Call]) -> NumberFacts:
    """Owned from_numbers, approved presentation numbers and suppressed callees, for a batch."""
    froms = sorted({c.from_number for c in batch if c.from_number})
    presentations = sorted({c.presentation_number for c in batch if c.presentation_number})
    callees = sorted({c.to_number for c in batch if c.to_number})
    owned = conn.execute(
        select(phone_numbers.c.number).where(
            phone_numbers.c.organization_id == organization_id, phone_numbers.c.number.in_(froms)
        )
    ).scalars()
    approved = conn.execute(
        select(presentation_numbers.c.number).where(
            presentation_numbers.c.organization_id == organization_id,
            presentation_numbers.c.number.in_(presentations),
            presentation_numbers.c.approved_at.is_not(None),
        )
    ).scalars()
    suppressed = conn.execute(
        select(suppressions.c.number).where(
            suppressions.c.organization_id == organization_id, suppressions.c.number.in_(callees)
        )
    ).scalars()
    return NumberFacts(set(owned), set(approved), set(suppressed))


def start_dialing(
    conn: Connection, due: Sequence[Call], *, owner: str, now: int, lease_ms: int
) -> dict[str, int]:
    """Claim queued calls for dialling, all in one statement; the new attempt (the fence) of
    each call claimed, by id. A call no longer queued at the attempt it was read with (taken
    meanwhile) is left out. One round trip per claim pass, not one per call: on PostgreSQL each
    statement is a wait for the server while the pass holds its organisations' locks."""
    if not due:
        return {}
    batch = call_store.literal_rows(  # joined on the primary key
        (calls.c.organization_id, calls.c.id, calls.c.attempt),
        [(c.organization_id, c.id, c.attempt) for c in due],
        "batch",
    )
    statement = (
        update(calls)
        .where(
            calls.c.organization_id == batch.c.organization_id,
            calls.c.id == batch.c.id,
            calls.c.attempt == batch.c.attempt,  # the fence: the attempt the call was read at
            calls.c.status == CallStatus.QUEUED.value,
        )
        .values(
            status=CallStatus.DIALING.value,
            attempt=calls.c.attempt + 1,
            lease_owner=owner,
            lease_expires_at=now + lease_ms,
            start_at=now,
            listed_at=now,  # the list's start-time key: one statement, one new row version
            updated_at=now,
        )
        .returning(calls.c.id, calls.c.attempt)
    )
    claimed: dict[str, int] = dict(conn.execute(statement).all())
    call_store.move_metadata_index(conn, [c for c in due if c.id in claimed], now)
    return claimed


def defer(conn: Connection, call: Call, due_at: int, now: int) -> None:
    """Keep a queued call waiting until `due_at` (e.g. the calling window's next opening)."""
    conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == call.organization_id,
            calls.c.id == call.id,
            calls.c.status == CallStatus.QUEUED.value,
        )
        .values(due_at=due_at, updated_at=now)
    )


def due_now(conn: Connection, organization_id: str, now: int) -> int:
    """Make the organisation's waiting calls due now, so the dispatcher judges them afresh.

    For a changed calling window: a call deferred to the old window's next opening would
    otherwise sleep until then even when the new window is open now. A call the new window still
    keeps out is simply deferred again at its next look. (Every queued call's future due time is
    a deferral today; a scheduled start, when campaigns bring one, must be kept apart from it.)
    """
    return conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == organization_id,
            calls.c.status == CallStatus.QUEUED.value,
            calls.c.due_at > now,
        )
        .values(due_at=now, updated_at=now)
    ).rowcount


@dataclass(frozen=True, slots=True)
class Lease:
    organization_id: str
    call_id: str
    attempt: int
    end_requested: bool


def renew_leases(conn: Connection, owner: str, now: int, lease_ms: int) -> list[Lease]:
    """Extend every live call this worker holds, in one statement; says which ones it still holds
    and which the API asked to end.

    PostgreSQL: the rows are locked first in the order of their call ids (byte order, as Python
    orders them), the order the worker's other multi-row transactions take their rows in
    (`engine.jobs.lanes`), so a renewal and a group of call steps never deadlock."""
    held = and_(calls.c.lease_owner == owner, calls.c.status.in_(LIVE))
    if _skip_locked(conn):
        locked = (
            select(calls.c.organization_id, calls.c.id)
            .where(held)
            .order_by(calls.c.id.collate("C"))
            .with_for_update(of=calls)
        )
        held = tuple_(calls.c.organization_id, calls.c.id).in_(locked)
    rows = conn.execute(
        update(calls)
        .where(held)
        .values(lease_expires_at=now + lease_ms)
        .returning(calls.c.organization_id, calls.c.id, calls.c.attempt, calls.c.end_requested_at)
    ).all()
    return [Lease(r.organization_id, r.id, r.attempt, r.end_requested_at is not None) for r in rows]


def any_expired(conn: Connection, now: int) -> bool:
    query = select(calls.c.id).where(calls.c.status.in_(LIVE), calls.c.lease_expires_at < now)
    return conn.execute(query.limit(1)).first() is not None


def expired_leases(conn: Connection, now: int, limit: int) -> list[Call]:
    """Live calls whose lease ran out: their worker died or lost the database. Locked on PG."""
    query = (
        select(*SUMMARY_COLUMNS)
        .where(calls.c.status.in_(LIVE), calls.c.lease_expires_at < now)
        .order_by(calls.c.lease_expires_at)
        .limit(limit)
    )
    if _skip_locked(conn):
        query = query.with_for_update(skip_locked=True, of=calls)
    return [row_to_call(r, with_transcript=False) for r in conn.execute(query)]


def lease_still_expired(now: int) -> list[ColumnElement[bool]]:
    """Extra WHERE terms for the reaper's move: the lease it saw expire has not been renewed."""
    return [calls.c.lease_expires_at < now]
