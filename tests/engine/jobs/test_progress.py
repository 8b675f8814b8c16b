"""Durable progress: a live call's record is stored as it grows, so a call cut short keeps it.

The real conductor on the simulated line, on virtual time, against both databases. A "killed"
worker stops dead: no heartbeat, no outcome, nothing pending written — as after SIGKILL.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from callplane.cli.demo import demo_agent_file
from callplane.config import Settings
from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.domain.money import call_cost_minor
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.jobs.worker import Worker
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.live.conductor import build_conductor
from callplane.store import progress
from callplane.store.db import Database
from tests.engine.jobs.test_worker import CONFIG, load, settled
from tests.engine.scripted import Script, ScriptedConductor, create_calls, run_until
from tests.factories import make_tenant


def stored(db: Database, organization_id: str, call_id: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        return progress.transcript(conn, organization_id, call_id) or []


async def kill(worker: Worker, task: asyncio.Task[None]) -> None:
    """Stop `worker` dead: its calls are abandoned as if the process had vanished."""
    for run in list(worker.runs.values()):
        run.lost = True  # nothing stores an outcome for them
        if run.task is not None:
            run.task.cancel()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_a_killed_workers_call_keeps_what_was_said_and_is_priced_and_analysed_on_it(db: Database) -> None:
    tenant = make_tenant(db, 0, agent=demo_agent_file())

    async def main() -> tuple[str, list[dict[str, Any]]]:
        clock = LoopClock()
        [call_id] = create_calls(db, clock, tenant, 1)
        doomed = Worker(db, build_conductor(Settings(), clock), clock=clock, config=CONFIG)
        task = asyncio.create_task(doomed.run())
        # The callee has answered the agent's first question: the stored record says so.
        while not any(e["role"] == "user" for e in stored(db, tenant.organization_id, call_id)):
            assert not task.done()
            await asyncio.sleep(0.05)
        kept = stored(db, tenant.organization_id, call_id)
        await kill(doomed, task)
        rescuer = Worker(db, ScriptedConductor(clock, Script()), clock=clock, config=CONFIG)
        await run_until(rescuer, lambda: settled(db, tenant, [call_id]), limit_s=600)
        return call_id, kept

    call_id, kept = run_virtual(main())
    [call] = load(db, tenant, [call_id])
    assert (call.status, call.disconnection_reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert [e["role"] for e in kept][:2] == ["agent", "user"] and kept[0]["content"]
    assert call.transcript == kept  # the reaper kept every utterance said before the kill
    # Priced on the talk that happened (to the callee's answer), not until the reaper noticed.
    assert call.answered_at is not None and call.end_at is not None
    last = max(e["end_at"] for e in kept if "end_at" in e)
    assert last < call.end_at
    assert call.cost_minor == call_cost_minor(Decimal("120.00"), last - call.answered_at) > 0
    # Analysed as the connected call it was.
    assert call.analysis is not None and call.analysis.summary is not None
    assert "Callee said" in call.analysis.summary and "not connected" not in call.analysis.summary


class _RecordsThenBreaks:
    """Answers, reports a record, then fails like a bug would."""

    def __init__(self, clock: LoopClock) -> None:
        self.clock = clock

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        await hooks.answered(self.clock.now_ms())
        start = self.clock.now_ms()
        await asyncio.sleep(30)
        said = {"role": "user", "content": "네, 맞아요", "start_at": start + 1000, "end_at": start + 30_000}
        hooks.progress([said], {"appointment_status": "confirmed"})
        await asyncio.sleep(5)
        raise RuntimeError("bug")


def test_an_answered_call_that_breaks_keeps_its_record_cost_and_analysis(db: Database) -> None:
    tenant = make_tenant(db, 0)

    async def main() -> str:
        clock = LoopClock()
        [call_id] = create_calls(db, clock, tenant, 1)
        worker = Worker(db, _RecordsThenBreaks(clock), clock=clock, config=CONFIG)
        await run_until(worker, lambda: settled(db, tenant, [call_id]), limit_s=600)
        return call_id

    [call] = load(db, tenant, [run_virtual(main())])
    assert (call.status, call.disconnection_reason) == (CallStatus.ERROR, DisconnectionReason.ERROR_VOXAI)
    assert call.transcript is not None and [e["content"] for e in call.transcript] == ["네, 맞아요"]
    assert call.answered_at is not None
    assert call.cost_minor == call_cost_minor(Decimal("100.00"), 30_000)  # to the last word, not the crash
    assert call.analysis is not None and "네, 맞아요" in (call.analysis.summary or "")
