"""The worker on a virtual-time loop, against both databases, with a scripted stand-in Conductor.

Calls last tens of seconds to minutes of loop time; the VirtualTimeLoop runs them in
milliseconds. Every assertion is about what the database says afterwards.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.domain.money import call_cost_minor
from callplane.engine import lifecycle
from callplane.engine.clock import FixedClock, LoopClock, SystemClock, run_virtual
from callplane.engine.jobs import reaper
from callplane.engine.jobs.analysis import OfflineAnalyser
from callplane.engine.jobs.dispatcher import dispatch
from callplane.engine.jobs.postcall import PostCall
from callplane.engine.jobs.worker import Worker, WorkerConfig
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import calls as call_store
from callplane.store import db as db_module
from callplane.store import ledger, queue
from callplane.store import lifecycle as store_lifecycle
from callplane.store import orgs as org_store
from callplane.store.db import Database
from callplane.store.lifecycle import Ending
from callplane.store.outbox import DeliveryStatus
from callplane.store.schema import calls, webhook_events
from tests.engine.scripted import Script, ScriptedConductor, create_calls, new_call, run_until
from tests.factories import FLOW_AGENT, Tenant, make_tenant
from tests.store.test_retention import left as webhook_log
from tests.store.test_retention import seed as seed_webhook_log

CONFIG = WorkerConfig(
    capacity=10, lease_s=30, heartbeat_s=5, poll_interval_s=1, reaper_interval_s=5, run_relay=False
)


def load(db: Database, tenant: Tenant, ids: list[str]) -> list[Call]:
    with db.read() as conn:
        found = call_store.get_calls(conn, tenant.organization_id, ids)
    order = {call_id: i for i, call_id in enumerate(ids)}
    return sorted(found, key=lambda c: order[c.id])


def settled(db: Database, tenant: Tenant, ids: list[str]) -> bool:
    """Every call terminal and its post-call step done."""
    with db.read() as conn:
        rows = conn.execute(
            select(calls.c.status, calls.c.postcall_due_at).where(
                calls.c.organization_id == tenant.organization_id, calls.c.id.in_(ids)
            )
        ).all()
    return len(rows) == len(ids) and all(
        CallStatus(r.status).is_terminal and r.postcall_due_at is None for r in rows
    )


def balance(db: Database, tenant: Tenant) -> int | None:
    with db.read() as conn:
        return org_store.get_organization(conn, tenant.organization_id).balance_minor


def events(db: Database, tenant: Tenant, call_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(
            select(webhook_events.c.body)
            .where(
                webhook_events.c.organization_id == tenant.organization_id,
                webhook_events.c.call_id == call_id,
            )
            .order_by(webhook_events.c.created_at, webhook_events.c.id)
        ).all()
    return [orjson.loads(r.body) for r in rows]


def test_calls_live_their_whole_life_and_are_priced_once(db: Database, tenant: Tenant) -> None:
    def script(call: Call) -> Script:
        return Script(answer=False) if call.to_number.endswith("1") else Script(talk_s=61.2)

    async def main() -> list[str]:
        clock = LoopClock()
        conductor = ScriptedConductor(clock, script)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        ids = create_calls(db, clock, tenant, 4)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=600)
        assert sorted(conductor.dialed.values()) == [1, 1, 1, 1]
        return ids

    before = balance(db, tenant)
    ids = run_virtual(main())
    found = load(db, tenant, ids)
    answered = [c for c in found if c.status is CallStatus.ENDED]
    missed = [c for c in found if c.status is CallStatus.NOT_CONNECTED]
    assert len(answered) == 3 and len(missed) == 1
    for call in answered:
        assert call.disconnection_reason is DisconnectionReason.USER_HANGUP
        assert call.start_at is not None and call.answered_at is not None and call.end_at is not None
        assert call.answered_at - call.start_at == 2000  # the scripted two seconds of ringing
        assert call.end_at - call.answered_at == 61_200
        assert call.duration_ms == call.end_at - call.start_at
        assert call.transcript and "홍길동" in call.transcript[0]["content"]
        assert call.telephony_id == f"sim-{call.id[:8]}"
        assert call.analysis is not None and call.analysis.summary
        # 62 started seconds at 100.00 KRW a minute: 103.33 KRW.
        assert call.cost_minor == 10_333
    [miss] = missed
    assert miss.disconnection_reason is DisconnectionReason.DIAL_NO_ANSWER
    assert miss.cost_minor == 0 and miss.answered_at is None
    assert miss.analysis is not None and miss.analysis.summary is not None
    assert "not connected" in miss.analysis.summary
    assert before is not None and balance(db, tenant) == before - 3 * 10_333
    with db.read() as conn:
        entries = ledger.entries(conn, tenant.organization_id)
        collected = store_lifecycle.collected(conn, tenant.organization_id, answered[0].id)
    assert sorted(e.call_id for e in entries) == sorted(c.id for c in answered)
    assert collected == {"confirmed": True}


def test_with_a_limit_of_3_no_more_than_3_calls_are_ever_live_and_all_50_end(
    db: Database, tenant: Tenant
) -> None:
    Admin(db, lambda: 0).update_organization(tenant.organization_id, {"max_concurrent_calls": 3})
    samples: list[int] = []

    async def main() -> ScriptedConductor:
        clock = LoopClock()
        conductor = ScriptedConductor(clock, Script(talk_s=45))
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        ids = create_calls(db, clock, tenant, 50)

        def sample() -> None:
            with db.read() as conn:
                samples.append(queue.live_count(conn, tenant.organization_id))
            assert conductor.live <= 3

        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=3600, every_s=0.5, on_tick=sample)
        assert len(conductor.dialed) == 50 and set(conductor.dialed.values()) == {1}
        return conductor

    conductor = run_virtual(main())
    assert max(samples) == 3 and conductor.max_live == 3
    assert len(samples) > 500  # ~17 rounds of 47 s, sampled twice a second


def test_a_prepaid_balance_for_two_minutes_runs_two_calls_at_a_time_and_all_five_end(
    db: Database, tenant: Tenant
) -> None:
    # 250.00 KRW at 100.00 KRW a minute, 30 s calls (50.00 KRW each, ringing is free).
    changes = {"balance": "250.00", "rate_per_minute": "100.00", "max_concurrent_calls": 10}
    Admin(db, lambda: 0).update_organization(tenant.organization_id, changes)

    async def main() -> tuple[ScriptedConductor, list[str]]:
        clock = LoopClock()
        conductor = ScriptedConductor(clock, Script(talk_s=30))
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        ids = create_calls(db, clock, tenant, 5)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=3600)
        return conductor, ids

    conductor, ids = run_virtual(main())
    found = load(db, tenant, ids)
    assert [c.status for c in found] == [CallStatus.ENDED] * 5
    # Without the hold all five would have started at once, for the same 250.00 KRW.
    assert conductor.max_live == 2
    assert balance(db, tenant) == 0


def test_an_api_end_request_ends_a_live_call(db: Database, tenant: Tenant) -> None:
    async def main() -> tuple[str, int]:
        clock = LoopClock()
        worker = Worker(db, ScriptedConductor(clock, Script(talk_s=600)), clock=clock, config=CONFIG)
        service = CallService(db, clock.now_ms)
        [call_id] = create_calls(db, clock, tenant, 1)
        asked: list[int] = []

        async def end_when_ongoing() -> None:
            call = service.get(tenant.organization_id, call_id)
            if call.status is CallStatus.ONGOING and not asked:
                assert service.cancel(tenant.organization_id, call_id).status is CallStatus.ONGOING
                asked.append(clock.now_ms())

        await run_until(worker, lambda: settled(db, tenant, [call_id]), limit_s=900, on_tick=end_when_ongoing)
        return call_id, asked[0]

    call_id, asked_at = run_virtual(main())
    [call] = load(db, tenant, [call_id])
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    assert call.end_at is not None and asked_at <= call.end_at <= asked_at + 6000  # within one heartbeat


def test_an_end_request_reaches_a_worker_in_the_same_process_at_once(db: Database, tenant: Tenant) -> None:
    """`serve` wires CallService.on_end_requested to its embedded worker: no heartbeat to wait for."""
    slow_heartbeat = replace(CONFIG, heartbeat_s=600, lease_s=1800)

    async def main() -> tuple[str, int]:
        clock = LoopClock()
        worker = Worker(db, ScriptedConductor(clock, Script(talk_s=600)), clock=clock, config=slow_heartbeat)
        service = CallService(db, clock.now_ms, on_end_requested=worker.request_end)
        [call_id] = create_calls(db, clock, tenant, 1)
        asked: list[int] = []

        async def end_when_ongoing() -> None:
            if service.get(tenant.organization_id, call_id).status is CallStatus.ONGOING and not asked:
                service.cancel(tenant.organization_id, call_id)
                asked.append(clock.now_ms())

        await run_until(
            worker, lambda: settled(db, tenant, [call_id]), limit_s=900, every_s=0.1, on_tick=end_when_ongoing
        )
        return call_id, asked[0]

    call_id, asked_at = run_virtual(main())
    [call] = load(db, tenant, [call_id])
    assert (call.status, call.disconnection_reason) == (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    assert (
        call.end_at is not None and asked_at <= call.end_at <= asked_at + 1100
    )  # the conductor's next check


def test_a_call_held_by_the_window_is_dialled_when_a_new_window_opens(db: Database, tenant: Tenant) -> None:
    admin = Admin(db, lambda: 0)
    admin.update_organization(
        tenant.organization_id, {"calling_window": {"timezone": "UTC", "start": "00:00", "end": "00:01"}}
    )
    opened: list[int] = []

    async def main() -> tuple[str, ScriptedConductor]:
        clock = LoopClock(epoch_ms=1_767_268_800_000)  # 2026-01-01 12:00 UTC: the window is closed
        conductor = ScriptedConductor(clock)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        [call_id] = create_calls(db, clock, tenant, 1)

        def widen_after_a_while() -> None:
            if not opened and clock.now_ms() > 1_767_268_800_000 + 10_000:
                opened.append(clock.now_ms())
                Admin(db, clock.now_ms).update_organization(
                    tenant.organization_id, {"calling_window": {"start": "00:00", "end": "24:00"}}
                )

        await run_until(
            worker, lambda: settled(db, tenant, [call_id]), limit_s=600, on_tick=widen_after_a_while
        )
        return call_id, conductor

    call_id, conductor = run_virtual(main())
    assert list(conductor.dialed.values()) == [1]
    [call] = load(db, tenant, [call_id])
    # Dialled at the worker's next poll after the change, not at the old window's next opening.
    assert call.start_at is not None and call.start_at - opened[0] <= 2_000
    assert call.status is CallStatus.ENDED


def test_a_canceled_queued_call_is_never_dialled(db: Database, tenant: Tenant) -> None:
    Admin(db, lambda: 0).update_organization(
        tenant.organization_id, {"calling_window": {"timezone": "UTC", "start": "00:00", "end": "00:01"}}
    )

    async def main() -> tuple[str, ScriptedConductor]:
        clock = LoopClock(epoch_ms=1_767_268_800_000)  # 2026-01-01 12:00 UTC: the window is closed
        conductor = ScriptedConductor(clock)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        [call_id] = create_calls(db, clock, tenant, 1)
        service = CallService(db, clock.now_ms)

        async def cancel_after_a_while() -> None:
            if clock.now_ms() > 1_767_268_800_000 + 10_000:
                call = service.get(tenant.organization_id, call_id)
                if call.status is CallStatus.QUEUED:
                    service.cancel(tenant.organization_id, call_id)

        await run_until(
            worker, lambda: settled(db, tenant, [call_id]), limit_s=60, on_tick=cancel_after_a_while
        )
        return call_id, conductor

    call_id, conductor = run_virtual(main())
    assert conductor.dialed == {}
    [call] = load(db, tenant, [call_id])
    assert (call.status, call.disconnection_reason) == (
        CallStatus.CANCELED,
        DisconnectionReason.CANCELED_BY_USER,
    )
    assert call.cost_minor == 0 and call.analysis is not None


def test_the_reaper_ends_a_dead_workers_calls_and_never_redials_them(db: Database, tenant: Tenant) -> None:
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")

    async def main() -> tuple[list[str], ScriptedConductor]:
        clock = LoopClock()
        ids = create_calls(db, clock, tenant, 2)
        # A worker claims both, answers one, then dies: nobody renews the leases.
        result = dispatch(db, owner="ghost", now=clock.now_ms(), capacity=5, lease_ms=30_000, scan_limit=10)
        assert len(result.claimed) == 2
        with db.write() as conn:
            lifecycle.answered(conn, result.claimed[0].call, fence=1, at=clock.now_ms(), now=clock.now_ms())
        conductor = ScriptedConductor(clock)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=120)
        return [c.call.id for c in result.claimed], conductor

    (mid_call, unanswered), conductor = run_virtual(main())
    assert conductor.dialed == {}
    found = {c.id: c for c in load(db, tenant, [mid_call, unanswered])}
    assert (found[mid_call].status, found[mid_call].disconnection_reason) == (
        CallStatus.ERROR,
        DisconnectionReason.ERROR_VOXAI,
    )
    assert (found[unanswered].status, found[unanswered].disconnection_reason) == (
        CallStatus.ERROR,
        DisconnectionReason.ORPHANED_NO_AGENT_PICKUP,
    )
    for call in found.values():
        assert call.attempt == 1 and call.cost_minor == 0
        assert call.end_at is not None and call.start_at is not None
        assert 30_000 < call.end_at - call.start_at <= 40_000  # lease + one reaper interval
    assert [e["event"] for e in events(db, tenant, mid_call)] == [
        "call_started",
        "call_ended",
        "call_analyzed",
    ]
    assert [e["event"] for e in events(db, tenant, unanswered)] == ["call_ended", "call_analyzed"]


def test_a_worker_abandons_a_call_it_no_longer_holds(db: Database, tenant: Tenant) -> None:
    async def main() -> tuple[str, ScriptedConductor]:
        clock = LoopClock()
        conductor = ScriptedConductor(clock, Script(talk_s=600))
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        [call_id] = create_calls(db, clock, tenant, 1)

        reaped: list[int] = []

        def reap_it_from_afar() -> None:
            # Another worker, whose clock runs an hour ahead, decides this one is dead.
            [call] = load(db, tenant, [call_id])
            if call.status is CallStatus.ONGOING and not reaped:
                reaped.append(reaper.reap(db, clock.now_ms() + 3_600_000))

        await run_until(
            worker, lambda: bool(reaped) and conductor.live == 0, limit_s=120, on_tick=reap_it_from_afar
        )
        assert reaped == [1]
        return call_id, conductor

    call_id, conductor = run_virtual(main())
    [call] = load(db, tenant, [call_id])
    assert (call.status, call.disconnection_reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert conductor.dialed[call_id] == 1


def test_opted_out_calls_store_nothing_sensitive_but_are_priced(db: Database) -> None:
    agent = {
        **FLOW_AGENT,
        "settings": {"opt_out_sensitive_data_storage": True},
        "pricing": {"rate_per_minute": "300"},
    }
    tenant = make_tenant(db, 0, agent=agent)
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")

    async def main() -> str:
        clock = LoopClock()
        worker = Worker(db, ScriptedConductor(clock, Script(talk_s=10)), clock=clock, config=CONFIG)
        [call_id] = create_calls(db, clock, tenant, 1)
        await run_until(worker, lambda: settled(db, tenant, [call_id]), limit_s=120)
        return call_id

    call_id = run_virtual(main())
    with db.read() as conn:
        row = conn.execute(
            select(calls).where(calls.c.organization_id == tenant.organization_id, calls.c.id == call_id)
        ).one()
    assert row.status == "ended"
    assert row.transcript is None and row.search_text is None and row.collected is None
    assert row.analysis is None and row.recording_key is None
    assert row.cost_minor == 5000  # 10 s at the agent's 300.00 KRW a minute
    bodies = events(db, tenant, call_id)
    assert [b["event"] for b in bodies] == ["call_started", "call_ended", "call_analyzed"]
    assert bodies[1]["call"]["transcript"] is None and bodies[2]["call"]["call_analysis"] is None
    assert bodies[2]["call"]["call_cost"] == {"total_cost": "50.00"}
    assert all("네 감사합니다" not in orjson.dumps(b).decode() for b in bodies)


def test_a_created_call_wakes_an_idle_worker_at_once(db: Database, tenant: Tenant) -> None:
    async def main() -> tuple[Call, int]:
        clock = LoopClock()
        worker = Worker(
            db, ScriptedConductor(clock), clock=clock, config=replace(CONFIG, poll_interval_s=300)
        )
        service = CallService(db, clock.now_ms, on_created=worker.wake)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(1)
        created = service.create(tenant.organization_id, new_call(tenant)).call
        await asyncio.sleep(0.001)
        call = service.get(tenant.organization_id, created.id)
        worker.stop()
        await task
        return call, created.created_at

    call, created_at = run_virtual(main())
    assert call.status is not CallStatus.QUEUED
    assert call.start_at is not None and call.start_at - created_at <= 1


def test_stopping_ends_live_calls_after_the_grace_period(db: Database, tenant: Tenant) -> None:
    async def main() -> str:
        clock = LoopClock()
        worker = Worker(
            db,
            ScriptedConductor(clock, Script(talk_s=600)),
            clock=clock,
            config=replace(CONFIG, shutdown_grace_s=5),
        )
        [call_id] = create_calls(db, clock, tenant, 1)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(20)
        worker.stop()
        await task
        return call_id

    call_id = run_virtual(main())
    [call] = load(db, tenant, [call_id])
    assert (call.status, call.disconnection_reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert call.error_detail == "the worker shut down during the call"
    assert call.end_at is not None and call.start_at is not None and call.end_at - call.start_at == 25_000


class _Broken:
    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        raise RuntimeError("bug")


class _Silent:
    """Reports a connected call without ever calling the hooks."""

    def __init__(self, clock: LoopClock) -> None:
        self.clock = clock

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        await asyncio.sleep(3)
        answered = self.clock.now_ms()
        await asyncio.sleep(7)
        return Outcome(
            CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP, self.clock.now_ms(), answered_at=answered
        )


def test_conductor_bugs_and_shortcuts_still_end_the_call_properly(db: Database, tenant: Tenant) -> None:
    async def main() -> list[str]:
        clock = LoopClock()
        broken = create_calls(db, clock, tenant, 1)
        worker = Worker(db, _Broken(), clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, broken), limit_s=60)
        silent = create_calls(db, clock, tenant, 1)
        worker = Worker(db, _Silent(clock), clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, silent), limit_s=60)
        return broken + silent

    broken_id, silent_id = run_virtual(main())
    broken, silent = load(db, tenant, [broken_id, silent_id])
    assert (broken.status, broken.disconnection_reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert broken.error_detail == "internal error: RuntimeError"
    assert silent.status is CallStatus.ENDED and silent.answered_at is not None
    assert silent.end_at is not None and silent.end_at - silent.answered_at == 7000
    assert silent.cost_minor == call_cost_minor(Decimal("100"), 7000)


def test_balance_is_settled_exactly_once_however_often_post_call_runs(db: Database, tenant: Tenant) -> None:
    clock = FixedClock(1_767_225_600_000)
    WebhookAdmin(db, clock.now_ms).add(tenant.organization_id, "https://receiver.invalid/hooks")
    [call_id] = create_calls(db, clock, tenant, 1)
    [claimed] = dispatch(
        db, owner="w", now=clock.now_ms(), capacity=1, lease_ms=30_000, scan_limit=10
    ).claimed
    with db.write() as conn:
        lifecycle.answered(conn, claimed.call, fence=1, at=clock.now_ms(), now=clock.now_ms())
    clock.advance(60_000)
    ending = Ending(CallStatus.ENDED, DisconnectionReason.USER_HANGUP, end_at=clock.now_ms())
    with db.write() as conn:
        assert lifecycle.ended(conn, claimed.call, ending, now=clock.now_ms(), fence=1)
    before = balance(db, tenant)
    postcall = PostCall(db, clock, OfflineAnalyser())

    # Two workers take the same step: the first one's claim lapses while it is still analysing.
    with db.write() as conn:
        [slow] = store_lifecycle.claim_postcall(conn, clock.now_ms(), 1_000, 10)
    clock.advance(1_001)
    with db.write() as conn:
        [fast] = store_lifecycle.claim_postcall(conn, clock.now_ms(), 1_000, 10)
    assert postcall.complete(fast, None, 10_000, clock.now_ms()) is True
    assert postcall.complete(slow, None, 10_000, clock.now_ms()) is False  # fenced out
    # An operator re-runs post-call: analysis again, the charge not again.
    with db.write() as conn:
        store_lifecycle.schedule_postcall(conn, tenant.organization_id, call_id, clock.now_ms())
    assert asyncio.run(postcall.run_due()) == 1
    assert before is not None and balance(db, tenant) == before - 10_000
    with db.read() as conn:
        assert [e.amount_minor for e in ledger.entries(conn, tenant.organization_id)] == [-10_000]
    [call] = load(db, tenant, [call_id])
    assert call.cost_minor == 10_000 and call.analysis is not None  # 60 s at 100.00 KRW a minute
    assert [e["event"] for e in events(db, tenant, call_id)].count("call_analyzed") == 2


def test_a_worker_purges_the_webhook_log_once_its_retention_has_passed(db: Database, tenant: Tenant) -> None:
    day = 86_400_000
    quiet = replace(
        CONFIG, poll_interval_s=60, heartbeat_s=600, reaper_interval_s=600, run_relay=False,
        webhook_retention_s=86_400, retention_interval_s=3600,
    )  # fmt: skip
    gone_after: dict[str, float] = {}

    async def main() -> tuple[str, str, str]:
        clock = LoopClock()
        start, org = clock.now_ms(), tenant.organization_id
        stale = seed_webhook_log(db, org, [(DeliveryStatus.DELIVERED, start - 2 * day)])
        fresh = seed_webhook_log(db, org, [(DeliveryStatus.FAILED, start - day // 2)])
        waiting = seed_webhook_log(db, org, [(DeliveryStatus.PENDING, start - 2 * day)])
        worker = Worker(db, ScriptedConductor(clock), clock=clock, config=quiet)

        def watch() -> None:
            for event_id in {stale, fresh} - webhook_log(db)[0] - gone_after.keys():
                gone_after[event_id] = (clock.now_ms() - start) / 3_600_000

        await run_until(worker, lambda: len(gone_after) == 2, limit_s=86_400, every_s=60, on_tick=watch)
        return stale, fresh, waiting

    stale, fresh, waiting = run_virtual(main())
    assert gone_after[stale] < 0.1  # at the worker's first pass
    assert 12 <= gone_after[fresh] <= 13.1  # at the first hourly pass after it turned a day old
    assert webhook_log(db)[0] == {waiting}  # a pending delivery stays, however old


class _DropsConnectionsAtHangUp(ScriptedConductor):
    """Ends each call as the database server drops every pooled connection (a restart)."""

    def __init__(self, clock: LoopClock, db: Database) -> None:
        super().__init__(clock, Script(talk_s=20))
        self.db = db

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        outcome = await super().conduct(call, version, hooks)
        _drop_connections(self.db)
        return outcome


def _drop_connections(db: Database) -> None:
    """Terminate the database's callplane connections and wait (in real time) until they are gone."""
    database = db.engine.url.database
    plain = db.engine.url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as admin:
        mine = "FROM pg_stat_activity WHERE datname = %s AND application_name = 'callplane'"
        admin.execute(f"SELECT pg_terminate_backend(pid) {mine}", (database,))
        while admin.execute(f"SELECT count(*) {mine}", (database,)).fetchone() != (0,):
            time.sleep(0.01)


@pytest.mark.postgres
def test_an_outcome_survives_the_database_dropping_the_workers_connections(
    postgres_db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Connections used a moment ago are not pinged (store.db): the outcome's write meets a dead one.
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
    db = postgres_db
    tenant = make_tenant(db, SystemClock().now_ms())
    # The test's own reads go through a pool of their own: a read of the worker's pool meeting a
    # killed connection first would invalidate that pool and spare the outcome's write its dead
    # connection (which read comes first was the order of two timers due at the same instant).
    checks = Database(db.url, pool_size=1)
    # Nothing else of the worker's is due when the call ends (the claim pass a finished call
    # wakes runs after the outcome's write is queued): the outcome's write meets the dead pool.
    quiet = replace(CONFIG, poll_interval_s=60, reaper_interval_s=600, heartbeat_s=60, lease_s=600)

    def stored() -> bool:
        try:
            return settled(checks, tenant, ids)
        except OperationalError:  # this check's own connection was killed too
            return False

    async def main() -> None:
        clock = LoopClock()
        worker = Worker(db, _DropsConnectionsAtHangUp(clock, db), clock=clock, config=quiet)
        await run_until(worker, stored, limit_s=600)

    ids = create_calls(db, SystemClock(), tenant, 1)
    try:
        with caplog.at_level(logging.WARNING, logger="callplane.engine.jobs.lanes"):
            run_virtual(main())
        [call] = load(checks, tenant, ids)
    finally:
        checks.dispose()
    # The outcome's own write met a dead connection and was retried: what this test is about.
    assert f"storing the outcome of call {ids[0]} failed (OperationalError)" in caplog.text
    assert call.status is CallStatus.ENDED
    assert call.disconnection_reason is DisconnectionReason.USER_HANGUP
    assert call.transcript and "홍길동" in call.transcript[0]["content"]


async def _until(done: Callable[[], bool], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while not done():
        assert time.monotonic() < deadline, f"not within {limit_s} s"
        await asyncio.sleep(0.05)


def _listening(db: Database) -> bool:
    with db.read() as conn:
        found = conn.exec_driver_sql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'callplane-listen'"
            " AND datname = current_database() AND starts_with(query, 'LISTEN')"
        ).scalar_one()
    return bool(found)


@pytest.mark.postgres
def test_a_worker_hears_new_calls_and_end_requests_from_other_processes_at_once(
    postgres_db: Database,
) -> None:
    """Real time: polls and heartbeats every two minutes, so only a notification can be fast."""
    db = postgres_db
    tenant = make_tenant(db, SystemClock().now_ms())
    slow = WorkerConfig(
        capacity=10, lease_s=600, heartbeat_s=120, poll_interval_s=120, reaper_interval_s=120, run_relay=False
    )

    async def main() -> str:
        clock = LoopClock()
        conductor = ScriptedConductor(clock, Script(ring_s=0.1, talk_s=60))
        worker = Worker(db, conductor, clock=clock, config=slow)
        # Another process's API: its hooks are not wired to this worker.
        api = CallService(db, clock.now_ms)
        running = asyncio.create_task(worker.run())
        try:
            await _until(lambda: _listening(db), 10)
            await asyncio.sleep(0.2)  # the worker's first claim pass found nothing
            call_id = api.create(tenant.organization_id, new_call(tenant)).call.id
            await _until(lambda: conductor.dialed[call_id] == 1 and conductor.live == 1, 5)
            await asyncio.sleep(0.3)  # answered
            api.cancel(tenant.organization_id, call_id)
            await _until(lambda: load(db, tenant, [call_id])[0].status.is_terminal, 5)
        finally:
            worker.stop()
            await running
        return call_id

    [call] = load(db, tenant, [asyncio.run(main())])
    assert call.status is CallStatus.ENDED
    assert call.disconnection_reason is DisconnectionReason.AGENT_HANGUP


class _AnsweredWithoutTheHook:
    """Reports a connected call without ever calling `answered` (the worker records it itself)."""

    def __init__(self, clock: LoopClock) -> None:
        self.clock = clock

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        await hooks.ringing(f"sim-{call.id[:8]}")
        await asyncio.sleep(20)
        now = self.clock.now_ms()
        said = [{"role": "agent", "content": "안녕하세요 홍길동님", "start_at": 0, "end_at": 1500}]
        return Outcome(
            CallStatus.ENDED, DisconnectionReason.USER_HANGUP, now, answered_at=now - 15_000, transcript=said
        )


@pytest.mark.postgres
def test_an_outcome_retried_after_a_drop_mid_transaction_records_the_answer_again(
    postgres_db: Database,
) -> None:
    db = postgres_db
    tenant = make_tenant(db, SystemClock().now_ms())
    dropped: list[int] = []

    def drop_before_ending(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # The transaction has recorded the answer; the connection dies before the ending.
        if not dropped and statement.startswith("UPDATE calls") and "'ended'" in repr(parameters):
            dropped.append(cursor.connection.info.backend_pid)
            _drop_connections(db)

    async def main() -> list[str]:
        clock = LoopClock()
        worker = Worker(db, _AnsweredWithoutTheHook(clock), clock=clock, config=CONFIG)
        ids = create_calls(db, clock, tenant, 1)
        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=600)
        return ids

    event.listen(db.engine, "before_cursor_execute", drop_before_ending)
    try:
        [call] = load(db, tenant, run_virtual(main()))
    finally:
        event.remove(db.engine, "before_cursor_execute", drop_before_ending)
    assert dropped
    assert call.status is CallStatus.ENDED and call.answered_at is not None
    assert call.transcript and "홍길동" in call.transcript[0]["content"]
