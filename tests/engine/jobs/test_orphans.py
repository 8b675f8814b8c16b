"""A worker that dies mid-call leaves no carrier call up: the reaper of another worker ends the
call in the database and hangs it up at the carrier (here, the fake Twilio's REST API)."""

from __future__ import annotations

import asyncio
import time

from callplane.cli.worker import build_worker
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
from tests.engine.live.telephony.twilio.test_provider import settings_for
from tests.engine.scripted import create_calls
from tests.factories import Tenant
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
