"""A stand-in Conductor for the durable machinery's tests: scripted callees, clock-driven durations.

It plays by the seam's rules (reports `ringing`/`answered` through the hooks, honours
`end_requested`, returns an Outcome and never raises) and counts what it saw, so tests can check
what the worker did with it: which calls were dialled, how often, and how many were live at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.domain.phone import parse_kr
from callplane.engine.clock import Clock
from callplane.engine.jobs.worker import Worker
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.services.calls import CallService, NewCall
from callplane.store.db import Database
from tests.factories import Tenant


@dataclass(frozen=True)
class Script:
    ring_s: float = 2.0
    answer: bool = True
    not_connected_reason: DisconnectionReason = DisconnectionReason.DIAL_NO_ANSWER
    talk_s: float = 30.0
    collected: dict[str, Any] = field(default_factory=lambda: {"confirmed": True})


class ScriptedConductor:
    def __init__(self, clock: Clock, script: Script | Callable[[Call], Script] = Script()) -> None:
        self.clock = clock
        self.script = script
        self.dialed: Counter[str] = Counter()
        self.live = 0
        self.max_live = 0

    def _script(self, call: Call) -> Script:
        return self.script(call) if callable(self.script) else self.script

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        script = self._script(call)
        self.dialed[call.id] += 1
        self.live += 1
        self.max_live = max(self.max_live, self.live)
        telephony_id = f"sim-{call.id[:8]}"
        try:
            await asyncio.sleep(script.ring_s)
            await hooks.ringing(telephony_id)
            if not script.answer:
                return Outcome(
                    CallStatus.NOT_CONNECTED,
                    script.not_connected_reason,
                    self.clock.now_ms(),
                    telephony_id=telephony_id,
                )
            answered_at = self.clock.now_ms()
            await hooks.answered(answered_at)
            name = call.dynamic_variables.get("customer_name", "고객")
            transcript: list[dict[str, Any]] = [
                {"role": "agent", "content": f"안녕하세요 {name}님", "start_at": 0, "end_at": 1500},
                {"role": "user", "content": "네 감사합니다", "start_at": 2000, "end_at": 3000},
            ]
            elapsed = 0.0
            while elapsed < script.talk_s:
                if hooks.end_requested():
                    return Outcome(
                        CallStatus.ENDED,
                        DisconnectionReason.AGENT_HANGUP,
                        self.clock.now_ms(),
                        answered_at=answered_at,
                        telephony_id=telephony_id,
                        transcript=transcript,
                    )
                step = min(1.0, script.talk_s - elapsed)
                await asyncio.sleep(step)
                elapsed += step
            return Outcome(
                CallStatus.ENDED,
                DisconnectionReason.USER_HANGUP,
                self.clock.now_ms(),
                answered_at=answered_at,
                telephony_id=telephony_id,
                transcript=transcript,
                collected=dict(script.collected),
            )
        finally:
            self.live -= 1


def new_call(tenant: Tenant, to: str = "01012345678", **overrides: Any) -> NewCall:
    values: dict[str, Any] = {
        "from_number": tenant.from_number,
        "to_number": parse_kr(to, "to_number"),
        "agent_id": tenant.agent_id,
        "dynamic_variables": {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
        "metadata": {"crm_lead_id": "lead_a1b2c3"},
    }
    values.update(overrides)
    return NewCall(**values)


def create_calls(db: Database, clock: Clock, tenant: Tenant, count: int, **overrides: Any) -> list[str]:
    service = CallService(db, clock.now_ms)
    return [
        service.create(
            tenant.organization_id, new_call(tenant, f"010{5000_0000 + i:08d}", **overrides)
        ).call.id
        for i in range(count)
    ]


async def run_until(
    worker: Worker,
    done: Callable[[], bool],
    *,
    limit_s: float,
    every_s: float = 1.0,
    on_tick: Callable[[], Awaitable[None] | None] | None = None,
) -> None:
    """Run `worker` until `done()` (checked every `every_s` of loop time), then stop it.

    Fails the test when `limit_s` of loop time pass first."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(worker.run())
    deadline = loop.time() + limit_s
    try:
        while not done():
            if task.done():
                task.result()
                raise AssertionError("the worker stopped by itself")
            if loop.time() > deadline:
                raise AssertionError(f"not done after {limit_s} s of loop time")
            if on_tick is not None:
                result = on_tick()
                if result is not None:
                    await result
            await asyncio.sleep(every_s)
    finally:
        worker.stop()
        await task
