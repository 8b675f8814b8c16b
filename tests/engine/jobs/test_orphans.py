"""A worker that dies mid-call leaves no carrier call up: the reaper of another worker ends the
call in the database and hangs it up at the carrier (here, the fake Twilio's REST API)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

from callplane.api.app import create_carrier_app
from callplane.cli.worker import build_worker, inbound_desk
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.phone import parse_kr
from callplane.engine.clock import SystemClock
from callplane.engine.jobs.chores import Chores
from callplane.engine.jobs.dispatcher import dispatch
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.twilio.provider import TwilioProvider
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.store import lifecycle as store_lifecycle
from callplane.store.db import Database
from tests.api.telephony.twilio_line import twilio_settings, twilio_tenant
from tests.engine.jobs.test_progress import stored
from tests.engine.live.telephony.twilio.test_provider import settings_for
from tests.engine.scripted import create_calls, new_call
from tests.factories import Tenant
from tests.fakes.server import free_port, serve_in_thread
from tests.fakes.twilio import Callee, FakeTwilio

TWILIO_NUMBER = parse_kr("07055556666", "n")


def test_the_reaper_hangs_up_a_dead_workers_carrier_call(db: Database, tenant: Tenant) -> None:
    clock = SystemClock()
    Admin(db, clock.now_ms).add_number(tenant.organization_id, TWILIO_NUMBER, "twilio", provider="twilio")
    with FakeTwilio().running() as fake:
        settings = settings_for(fake)
        (call_id,) = create_calls(db, clock, tenant, 1, from_number=TWILIO_NUMBER)
        fake.callees[CallService(db, clock.now_ms).get(tenant.organization_id, call_id).to_number or ""] = (
            Callee(answer="never")
        )
        # A worker claims the call with a short lease, dials it through Twilio, and dies.
        (claimed,) = dispatch(
            db, owner="ghost", now=clock.now_ms(), capacity=1, lease_ms=1, scan_limit=10
        ).claimed
        call = claimed.call
        assert call.to_number is not None
        request = DialRequest(call.id, claimed.attempt, TWILIO_NUMBER, call.to_number, None, 30)

        async def ghost_dials() -> str:
            provider = TwilioProvider(settings, clock, SpeechStack.from_settings(settings))
            line = await provider.dial(request)
            await provider.aclose()
            return line.telephony_id

        sid = asyncio.run(ghost_dials())
        with db.write() as conn:
            store_lifecycle.ring(
                conn,
                tenant.organization_id,
                call_id,
                fence=claimed.attempt,
                telephony_id=sid,
                now=clock.now_ms(),
            )
        time.sleep(0.01)  # the lease has run out

        async def another_workers_reaper() -> None:
            worker = build_worker(db, settings)
            await Chores(worker).reap()
            await asyncio.gather(*worker._hanging_up)
            worker.lanes.close()
            for close in worker.closers:
                await close()

        asyncio.run(another_workers_reaper())
        assert fake.calls[sid].updates == [{"Status": "completed"}]
        reaped = CallService(db, clock.now_ms).get(tenant.organization_id, call_id)
        assert (reaped.status, reaped.disconnection_reason) == (
            CallStatus.ERROR,
            DisconnectionReason.ORPHANED_NO_AGENT_PICKUP,
        )


def test_a_worker_killed_mid_conversation_leaves_no_carrier_call_and_keeps_what_was_said(
    db: Database, tmp_path: Path
) -> None:
    """The whole way: a real worker talks with the fake Twilio's callee over the media stream and
    dies (its loop stops dead, as at SIGKILL: no heartbeat, no outcome, no hang-up); another
    worker's reaper ends the call, keeping what was said, and hangs it up through the REST API."""
    with FakeTwilio().running() as fake:
        port = free_port()
        settings = twilio_settings(fake, port, tmp_path).model_copy(
            update={"worker_lease_s": 1.0, "worker_reaper_interval_s": 3600.0}
        )
        tenant = twilio_tenant(db)
        org = tenant.organization_id
        fake.callees[parse_kr("01012340201", "to")] = Callee(lines=["음..."])  # nothing the agent waits for
        service = CallService(db, SystemClock().now_ms)
        new = new_call(tenant, "01012340201", from_number=TWILIO_NUMBER)
        call_id = service.create(org, new).call.id
        doomed = build_worker(db, settings)
        loop = asyncio.new_event_loop()

        def run_until_killed() -> None:
            with contextlib.suppress(RuntimeError):  # "Event loop stopped before Future completed"
                loop.run_until_complete(doomed.run())

        thread = threading.Thread(target=run_until_killed, daemon=True)
        with serve_in_thread(create_carrier_app(settings, db, inbound_desk(doomed)), port):
            thread.start()
            deadline = time.monotonic() + 60  # a hang guard, not a speed assertion
            while not any(e["role"] == "user" for e in stored(db, org, call_id)):
                assert time.monotonic() < deadline, "the callee was never heard"
                time.sleep(0.05)
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            kept = stored(db, org, call_id)
            carrier_call = fake.call_to(parse_kr("01012340201", "to"))
            assert carrier_call.updates == [] and not carrier_call.ended.is_set()  # still talking

            async def another_workers_reaper() -> None:
                rescuer = build_worker(db, settings)
                while not service.get(org, call_id).status.is_terminal:  # once the lease ran out
                    assert time.monotonic() < deadline + 60, "the call was never reaped"
                    await Chores(rescuer).reap()
                    await asyncio.sleep(0.1)
                await asyncio.gather(*rescuer._hanging_up)
                rescuer.lanes.close()
                for close in rescuer.closers:
                    await close()

            asyncio.run(another_workers_reaper())
            assert carrier_call.updates == [{"Status": "completed"}]
            reaped = service.get(org, call_id)
            assert (reaped.status, reaped.disconnection_reason) == (
                CallStatus.ERROR,
                DisconnectionReason.ERROR_VOXAI,
            )
            assert "음..." in [e["content"] for e in kept if e["role"] == "user"]
            assert reaped.transcript == kept
        _bury(loop)


def _bury(loop: asyncio.AbstractEventLoop) -> None:
    """Release what the dead worker's loop still holds (its tasks, clients and threads)."""

    async def cancel_all() -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop.run_until_complete(cancel_all())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
