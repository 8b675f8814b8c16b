"""One live call on a worker: a database blip in the middle of a call does not end it badly,
and a fresh worker claims gradually."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.jobs.worker import Worker
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from tests.engine.jobs.test_worker import CONFIG, events, load, settled
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
