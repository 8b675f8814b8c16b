"""The worker's periodic jobs (`engine.jobs.chores`): the heartbeat's judgement of lost leases."""

from __future__ import annotations

import asyncio

import pytest

from callplane.engine.clock import SystemClock
from callplane.engine.dialing import Claimed
from callplane.engine.jobs.callrun import CallRun
from callplane.engine.jobs.chores import Chores
from callplane.engine.jobs.worker import Worker
from callplane.store import calls as call_store
from callplane.store.db import Database
from tests.engine.jobs.test_worker import CONFIG
from tests.engine.scripted import Script, ScriptedConductor, create_calls
from tests.factories import Tenant


@pytest.mark.parametrize("ending", [True, False], ids=["ending", "live"])
def test_a_heartbeat_abandons_a_run_without_its_lease_unless_its_end_is_being_stored(
    db: Database, tenant: Tenant, ending: bool
) -> None:
    """A run whose end has committed but whose place is not freed yet holds no lease any more:
    that is no lost lease (no warning, no cancel). A live run without its lease is abandoned."""
    clock = SystemClock()
    [call_id] = create_calls(db, clock, tenant, 1)  # queued: no worker holds its lease
    with db.read() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)

    async def main() -> CallRun:
        worker = Worker(db, ScriptedConductor(clock, Script()), clock=clock, config=CONFIG)
        run = CallRun(worker, Claimed(call, 1, clock.now_ms()))
        run.ending = ending
        run.task = asyncio.ensure_future(asyncio.sleep(3600))
        worker.runs[call_id] = run
        try:
            await Chores(worker).heartbeat()
            await asyncio.sleep(0)
            return run
        finally:
            run.task.cancel()
            worker.lanes.close()
            worker.lease_db.dispose()

    run = asyncio.run(main())
    assert run.lost is (not ending)
