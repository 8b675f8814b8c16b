"""Stop during dialling or ringing: the API's end reaches the worker, which hangs the attempt up;
the call ends `canceled` within a second, unbilled. Real conductor, simulated line, virtual time."""

from __future__ import annotations

import asyncio

from callplane.cli.demo import demo_agent_file
from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.jobs.worker import Worker
from callplane.engine.live.conductor import build_conductor
from callplane.engine.services.calls import CallService
from callplane.store.db import Database
from tests.engine.jobs.test_worker import CONFIG, balance, load, settled
from tests.engine.scripted import new_call, run_until
from tests.factories import make_tenant

NO_ANSWER = "01000000002"  #: a built-in scenario: rings until the ring timeout


def test_a_call_stopped_while_ringing_ends_canceled_at_once_and_costs_nothing(db: Database) -> None:
    tenant = make_tenant(db, 0, agent=demo_agent_file())
    before = balance(db, tenant)

    async def main() -> tuple[str, int]:
        clock = LoopClock()
        worker = Worker(db, build_conductor(Settings(), clock), clock=clock, config=CONFIG)
        service = CallService(db, clock.now_ms)
        service.on_end_requested = worker.request_end
        call_id = service.create(tenant.organization_id, new_call(tenant, NO_ANSWER)).call.id
        stopped_at: list[int] = []

        async def stop_once_ringing() -> None:
            if not stopped_at and service.get(tenant.organization_id, call_id).status is CallStatus.RINGING:
                await asyncio.sleep(2)  # a while into the ringing
                stopped_at.append(clock.now_ms())
                service.cancel(tenant.organization_id, call_id)

        await run_until(
            worker,
            lambda: settled(db, tenant, [call_id]),
            limit_s=600,
            every_s=0.1,
            on_tick=stop_once_ringing,
        )
        return call_id, stopped_at[0]

    call_id, stopped_at = run_virtual(main())
    [call] = load(db, tenant, [call_id])
    assert (call.status, call.disconnection_reason) == (
        CallStatus.CANCELED,
        DisconnectionReason.CANCELED_BY_USER,
    )
    assert call.end_at is not None and 0 <= call.end_at - stopped_at <= 1000
    assert call.answered_at is None and not call.transcript
    assert call.cost_minor == 0 and balance(db, tenant) == before
