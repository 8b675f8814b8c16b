"""One live call on a worker: a database blip in the middle of a call does not end it badly,
a fresh worker claims gradually, a ringing is folded into an answer that follows at once, and
the offline post-call done with the end stores what the durable step stores (and leaves the
call to that step when it fails)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallAnalysis, CallStatus, DisconnectionReason
from callplane.engine.clock import FixedClock, LoopClock, run_virtual
from callplane.engine.jobs.analysis import OfflineAnalyser
from callplane.engine.jobs.worker import Worker
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import ledger, queue
from callplane.store import lifecycle as store_lifecycle
from callplane.store.db import Database
from callplane.store.schema import calls
from tests.engine.jobs.test_worker import CONFIG, balance, events, load, settled
from tests.engine.scripted import Script, ScriptedConductor, create_calls, run_until
from tests.factories import Tenant


@pytest.fixture
def fresh_pool_after(db: Database) -> Iterator[None]:
    """Other tests share this database object: leave them a pool with no killed connection."""
    yield
    db.dispose()


def terminate_backends(db: Database) -> int:
    """What a database restart does to a pool: every other backend of the database is killed."""
    url = make_url(db.url).set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        row = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


class BlipConductor:
    """Rings and answers like a carrier, with every pooled connection killed before each step."""

    def __init__(self, db: Database, clock: LoopClock) -> None:
        self.db = db
        self.clock = clock
        self.killed = 0

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        self.killed += terminate_backends(self.db)
        await hooks.ringing(f"blip-{call.id}")
        self.killed += terminate_backends(self.db)
        answered_at = self.clock.now_ms()
        await hooks.answered(answered_at)
        await asyncio.sleep(30)
        self.killed += terminate_backends(self.db)
        return Outcome(
            CallStatus.ENDED,
            DisconnectionReason.AGENT_HANGUP,
            self.clock.now_ms(),
            answered_at=answered_at,
            telephony_id=f"blip-{call.id}",
        )


def _settled(db: Database, tenant: Tenant, ids: list[str]) -> bool:
    try:
        return settled(db, tenant, ids)
    except OperationalError:  # this check's own pooled connection was killed too
        return False


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
@pytest.mark.usefixtures("fresh_pool_after")
def test_a_database_blip_during_a_call_neither_hangs_up_nor_blames_the_carrier(
    db: Database, tenant: Tenant
) -> None:
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")

    async def main() -> tuple[list[str], int]:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 2)
        conductor = BlipConductor(db, clock)
        worker = Worker(db, conductor, clock=clock, config=replace(CONFIG, listen=False))
        await run_until(worker, lambda: _settled(db, tenant, ids), limit_s=300)
        return ids, conductor.killed

    ids, killed = run_virtual(main())
    assert killed > 0
    # The conductor killed backends up to the call's last step: the pool may still hold one of
    # them, checked in too recently to be pinged (store/db.py), so the checks below start afresh.
    db.dispose()
    for call in load(db, tenant, ids):
        ended = (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
        assert (call.status, call.disconnection_reason) == ended
        assert call.answered_at is not None and call.telephony_id == f"blip-{call.id}"
        assert [e["event"] for e in events(db, tenant, call.id)] == [
            "call_started",
            "call_ended",
            "call_analyzed",
        ]


def test_a_fresh_worker_claims_gradually(db: Database, tenant: Tenant) -> None:
    """A worker that dies right after it starts must not take a full capacity of calls with it."""
    config = replace(CONFIG, capacity=40, claim_start=2, claim_ramp_s=10, poll_interval_s=1)

    async def main() -> list[int]:
        clock = LoopClock()
        create_calls(db, clock, tenant, 30)
        worker = Worker(db, ScriptedConductor(clock, Script(talk_s=600)), clock=clock, config=config)
        task = asyncio.create_task(worker.run())
        seen = []
        await asyncio.sleep(5)
        for _ in range(3):
            seen.append(worker.live_calls)
            await asyncio.sleep(10)  # checked mid-step: between two doublings
        worker.stop()
        await task
        return seen

    assert run_virtual(main()) == [2, 4, 8]


def _status_updates(db: Database, seen: list[str]) -> Callable[..., None]:
    """Notes the status each UPDATE of `calls` sets (`before_cursor_execute`)."""

    def note(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.startswith("UPDATE calls SET status="):
            values = parameters.values() if isinstance(parameters, dict) else parameters
            seen.append(next(v for v in values if isinstance(v, str) and v in set(CallStatus)))

    event.listen(db.engine, "before_cursor_execute", note)
    return note


class RingsThenAnswers:
    """Rings, then answers after `answer_after_s` (None: never — not connected at `end_after_s`),
    noting the stored status and telephony id halfway through the ringing."""

    def __init__(self, db: Database, tenant: Tenant, clock: LoopClock, answer_after_s: float | None) -> None:
        self.db, self.tenant, self.clock = db, tenant, clock
        self.answer_after_s = answer_after_s
        self.while_ringing: list[tuple[CallStatus, str | None]] = []

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        telephony_id = f"ring-{call.id}"
        await hooks.ringing(telephony_id)
        wait_s = self.answer_after_s if self.answer_after_s is not None else 0.2
        await asyncio.sleep(wait_s / 2)
        [stored] = load(self.db, self.tenant, [call.id])
        self.while_ringing.append((stored.status, stored.telephony_id))
        await asyncio.sleep(wait_s / 2)
        if self.answer_after_s is None:
            return Outcome(
                CallStatus.NOT_CONNECTED,
                DisconnectionReason.DIAL_BUSY,
                self.clock.now_ms(),
                telephony_id=telephony_id,
            )
        answered_at = self.clock.now_ms()
        await hooks.answered(answered_at)
        await asyncio.sleep(5)
        return Outcome(
            CallStatus.ENDED,
            DisconnectionReason.AGENT_HANGUP,
            self.clock.now_ms(),
            answered_at=answered_at,
            telephony_id=telephony_id,
        )


@pytest.mark.parametrize(
    ("answer_after_s", "statuses", "while_ringing"),
    [
        # Answered within the fold: the ringing is stored with the answer, no UPDATE of its own.
        (0.2, ["dialing", "ongoing", "ended"], CallStatus.DIALING),
        # Answered later: the ringing is stored on its own, then the answer moves the call on.
        (4.0, ["dialing", "ringing", "ongoing", "ended"], CallStatus.RINGING),
        # Not connected within the fold: the end stores the telephony id.
        (None, ["dialing", "not_connected"], CallStatus.DIALING),
    ],
)
def test_a_ringing_is_folded_into_an_answer_or_end_that_follows_at_once(
    db: Database,
    tenant: Tenant,
    answer_after_s: float | None,
    statuses: list[str],
    while_ringing: CallStatus,
) -> None:
    seen: list[str] = []
    note = _status_updates(db, seen)

    async def main() -> tuple[list[str], RingsThenAnswers]:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 1)
        conductor = RingsThenAnswers(db, tenant, clock, answer_after_s)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=120)
        return ids, conductor

    try:
        ids, conductor = run_virtual(main())
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    [call] = load(db, tenant, ids)
    assert seen == statuses
    assert call.status.value == statuses[-1] and call.telephony_id == f"ring-{call.id}"
    assert conductor.while_ringing[0][0] is while_ringing
    assert (call.answered_at is not None) is (answer_after_s is not None)


def test_a_late_ringing_never_moves_an_answered_call_back(db: Database, tenant: Tenant) -> None:
    """The fold's timer may fire as the answer is stored: the ringing is fenced on `dialing`."""
    [call_id] = create_calls(db, FixedClock(1), tenant, 1)
    with db.write() as conn:
        [claimed] = queue.due_calls(conn, 10**13, 10, exclude=())
        attempt = queue.start_dialing(conn, [claimed], owner="w", now=1, lease_ms=30_000).get(claimed.id)
        assert attempt is not None
        assert store_lifecycle.answer(conn, tenant.organization_id, call_id, fence=attempt, at=2, now=2)
        assert not store_lifecycle.ring(
            conn, tenant.organization_id, call_id, fence=attempt, telephony_id="late", now=3
        )
    [call] = load(db, tenant, [call_id])
    assert call.status is CallStatus.ONGOING and call.telephony_id is None


class DurableOffline:
    """The offline analysis behind the durable post-call step (any analyser but the offline one)."""

    async def analyse(
        self, call: Call, version: AgentVersion, collected: dict[str, Any]
    ) -> CallAnalysis | None:
        return await OfflineAnalyser().analyse(call, version, collected)


@pytest.mark.parametrize("opt_out", [False, True])
def test_offline_post_call_with_the_end_stores_what_the_durable_step_stores(
    db: Database, tenant: Tenant, opt_out: bool
) -> None:
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")

    async def one(analyser: Any, start_ms: int) -> str:
        clock = LoopClock(start_ms)
        [call_id] = create_calls(db, clock, tenant, 1, opt_out_sensitive_data_storage=opt_out)
        conductor = ScriptedConductor(clock, Script(ring_s=1, talk_s=61.5, collected={"confirmed": True}))
        worker = Worker(db, conductor, clock=clock, analyser=analyser, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, [call_id]), limit_s=300)
        return call_id

    start = 1_800_000_000_000
    before = balance(db, tenant)
    durable = run_virtual(one(DurableOffline(), start))
    after_durable = balance(db, tenant)
    at_end = run_virtual(one(None, start))
    after_end = balance(db, tenant)
    a, b = load(db, tenant, [durable, at_end])
    with db.read() as conn:
        query = select(calls.c.id, calls.c.postcall_attempts).where(calls.c.id.in_([durable, at_end]))
        claims = {r.id: r.postcall_attempts for r in conn.execute(query)}
    assert (claims[durable], claims[at_end]) == (1, 0)  # the second never had a post-call step
    assert b.analysis == a.analysis and b.cost_minor == a.cost_minor > 0
    assert (a.analysis is None) is opt_out
    assert before is not None and after_durable is not None and after_end is not None
    assert before - after_durable == after_durable - after_end == a.cost_minor
    with db.read() as conn:
        charged = [ledger.entries(conn, tenant.organization_id, c) for c in (durable, at_end)]
    assert [[e.amount_minor for e in entries] for entries in charged] == [[-a.cost_minor]] * 2
    bodies = [events(db, tenant, c) for c in (durable, at_end)]
    assert [[e["event"] for e in body] for body in bodies] == [
        ["call_started", "call_ended", "call_analyzed"]
    ] * 2
    analysed = [body[-1]["call"] for body in bodies]
    for key in ("call_analysis", "cost", "call_cost", "disconnection_reason", "call_status"):
        assert analysed[0].get(key) == analysed[1].get(key), key


class RingsThenFails:
    """Rings, then fails at once with an outcome that carries no telephony id (as a conductor's
    error paths do), within the ringing's fold."""

    def __init__(self, clock: LoopClock) -> None:
        self.clock = clock

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        await hooks.ringing(f"ring-{call.id}")
        await asyncio.sleep(0.1)
        return Outcome(CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI, self.clock.now_ms())


def test_a_failure_within_the_fold_keeps_the_telephony_id_the_ringing_reported(
    db: Database, tenant: Tenant
) -> None:
    """A reaper hangs up only calls whose carrier id is stored: the folded id must not be lost
    with an outcome that has none."""

    async def main() -> list[str]:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 1)
        worker = Worker(db, RingsThenFails(clock), clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=120)
        return ids

    [call] = load(db, tenant, run_virtual(main()))
    assert call.status is CallStatus.ERROR
    assert call.telephony_id == f"ring-{call.id}"


class FailsOnceWithTheEnd(OfflineAnalyser):
    """An offline analysis that raises the first time (a malformed analysis field, say)."""

    def __init__(self) -> None:
        self.calls = 0

    def analysis(self, call: Call, version: AgentVersion, collected: dict[str, Any]) -> CallAnalysis | None:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("a defect in the analysis")
        return super().analysis(call, version, collected)


def test_an_analysis_that_raises_with_the_end_leaves_the_end_stored_and_post_call_to_its_step(
    db: Database, tenant: Tenant
) -> None:
    analyser = FailsOnceWithTheEnd()

    async def main() -> list[str]:
        clock = LoopClock(1_800_000_000_000)
        ids = create_calls(db, clock, tenant, 1)
        conductor = ScriptedConductor(clock, Script(ring_s=1, talk_s=30))
        worker = Worker(db, conductor, clock=clock, analyser=analyser, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=300)
        return ids

    ids = run_virtual(main())
    [call] = load(db, tenant, ids)
    with db.read() as conn:
        attempts = conn.execute(select(calls.c.postcall_attempts).where(calls.c.id == call.id)).scalar_one()
    assert call.status is CallStatus.ENDED and call.disconnection_reason is DisconnectionReason.USER_HANGUP
    assert attempts == 1 and analyser.calls == 2  # the durable step did it, once
    assert call.analysis is not None and call.cost_minor is not None and call.cost_minor > 0
