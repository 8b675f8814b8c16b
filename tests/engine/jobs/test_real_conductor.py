"""The durable machinery with the real Conductor on the simulated line.

In-process runs use the VirtualTimeLoop (a long conversation takes milliseconds); the last test
runs `callplane serve` as a user would and follows the README's demo call to its end.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from callplane.cli.demo import demo_agent_file
from callplane.config import Settings
from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.phone import parse_kr
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.jobs.worker import Worker
from callplane.engine.live.conductor import build_conductor
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import queue
from callplane.store.db import Database
from callplane.store.schema import webhook_events
from tests.engine.jobs.test_worker import CONFIG, load, settled
from tests.engine.scripted import create_calls, new_call, run_until
from tests.factories import FLOW_AGENT, make_tenant
from tests.test_serve import SEED_001, start_server


def test_fifty_demo_calls_with_a_limit_of_3_never_exceed_it(db: Database) -> None:
    tenant = make_tenant(db, 0, agent=demo_agent_file())
    Admin(db, lambda: 0).update_organization(tenant.organization_id, {"max_concurrent_calls": 3})
    samples: list[int] = []

    async def main() -> list[str]:
        clock = LoopClock()
        conductor = build_conductor(Settings(simulator_speed=1), clock)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)
        ids = create_calls(db, clock, tenant, 50)

        def sample() -> None:
            with db.read() as conn:
                samples.append(queue.live_count(conn, tenant.organization_id))

        await run_until(worker, lambda: settled(db, tenant, ids), limit_s=7200, every_s=0.25, on_tick=sample)
        return ids

    ids = run_virtual(main())
    assert max(samples) == 3 and len(samples) > 200
    found = load(db, tenant, ids)
    assert {(c.status, c.disconnection_reason) for c in found} == {
        (CallStatus.ENDED, DisconnectionReason.AGENT_HANGUP)
    }
    assert all(c.attempt == 1 and c.cost_minor and c.analysis for c in found)


def test_scenarios_end_with_their_reasons_through_the_worker(db: Database) -> None:
    """Carrier outcomes reach the database, post-call and the outbox like any other call."""
    tenant = make_tenant(db, 0, agent=demo_agent_file())
    WebhookAdmin(db, lambda: 0).add(tenant.organization_id, "https://receiver.invalid/hooks")
    numbers = {
        "01000000001": (CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_BUSY),
        "01000000002": (CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_NO_ANSWER),
        "01000000005": (CallStatus.ENDED, DisconnectionReason.VOICEMAIL_REACHED),
        "01000000006": (CallStatus.ENDED, DisconnectionReason.INACTIVITY),
        "01000000013": (CallStatus.ERROR, DisconnectionReason.FLOW_ERROR),
    }

    async def main() -> dict[str, str]:
        clock = LoopClock()
        worker = Worker(db, build_conductor(Settings(), clock), clock=clock, config=CONFIG)
        service = CallService(db, clock.now_ms)
        ids = {n: service.create(tenant.organization_id, new_call(tenant, n)).call.id for n in numbers}
        await run_until(worker, lambda: settled(db, tenant, list(ids.values())), limit_s=600)
        return ids

    ids = run_virtual(main())
    for number, call_id in ids.items():
        [call] = load(db, tenant, [call_id])
        assert (call.status, call.disconnection_reason) == numbers[number], number
        with db.read() as conn:
            types = (
                conn.execute(
                    select(webhook_events.c.type)
                    .where(
                        webhook_events.c.organization_id == tenant.organization_id,
                        webhook_events.c.call_id == call_id,
                    )
                    .order_by(webhook_events.c.created_at, webhook_events.c.id)
                )
                .scalars()
                .all()
            )
        connected = call.answered_at is not None
        assert types == (["call_started"] if connected else []) + ["call_ended", "call_analyzed"], number
        # Talk time is billed, the flow's own error included; a call never answered is free.
        assert ((call.cost_minor or 0) > 0) == connected, number


def _saying(words: str) -> dict[str, Any]:
    return {**FLOW_AGENT, "flow": {"start": "hi", "nodes": {"hi": {"type": "end", "say": words}}}}


def test_two_organizations_with_one_agent_id_each_speak_their_own_flow(db: Database) -> None:
    """Agent ids are chosen by clients and unique only per organisation: B may reuse A's (public,
    demo) agent id. B's call runs first, so a runtime cache keyed without the organisation would
    hand A's call B's parsed flow."""
    first = make_tenant(db, 0, agent=_saying("A 회사입니다"))
    admin = Admin(db, lambda: 0)
    org = admin.create_organization("second", calling_window={"start": "00:00", "end": "24:00"})
    from_number, presentation = parse_kr("07055556666", "n"), parse_kr("0298765432", "n")
    admin.add_number(org.id, from_number)
    admin.approve_presentation_number(org.id, presentation)
    admin.create_agent(org.id, _saying("B 회사입니다"), first.agent_id)
    second = replace(first, organization_id=org.id, from_number=from_number, presentation_number=presentation)

    async def main() -> tuple[str, str]:
        clock = LoopClock()
        worker = Worker(db, build_conductor(Settings(), clock), clock=clock, config=CONFIG)
        [b_call] = create_calls(db, clock, second, 1)
        await run_until(worker, lambda: settled(db, second, [b_call]), limit_s=600)
        worker = Worker(db, worker.conductor, clock=clock, config=CONFIG)
        [a_call] = create_calls(db, clock, first, 1)
        await run_until(worker, lambda: settled(db, first, [a_call]), limit_s=600)
        return a_call, b_call

    a_call, b_call = run_virtual(main())
    heard = {
        tenant.organization_id: " ".join(e["content"] for e in call.transcript or [] if e["role"] == "agent")
        for tenant, call_id in ((first, a_call), (second, b_call))
        for call in load(db, tenant, [call_id])
    }
    assert heard == {first.organization_id: "A 회사입니다", second.organization_id: "B 회사입니다"}


def test_the_readme_demo_call_ends_with_transcript_analysis_and_cost(tmp_path: Path) -> None:
    server = start_server(tmp_path, {"CALLPLANE_BOOTSTRAP_API_KEY": "cp_scripted_demo_key_0001"})
    try:
        headers = {"Authorization": "Bearer cp_scripted_demo_key_0001"}
        created = httpx.post(f"{server.base_url}/v3/calls", json=SEED_001, headers=headers)
        assert created.status_code == 201
        call_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while True:
            call = httpx.get(f"{server.base_url}/v3/calls/{call_id}", headers=headers).json()
            if call["status"] == "ended" and call["call_cost"] is not None:
                break
            assert time.monotonic() < deadline, call
            time.sleep(0.2)
    finally:
        server.stop()
    assert call["disconnection_reason"] == "agent_hangup"
    spoken = [e for e in call["transcript"] if e["role"] in ("agent", "user")]
    assert "홍길동" in spoken[0]["content"] and "2026-05-10 14:00" in spoken[0]["content"]
    assert all(e["start_at"] is not None and e["end_at"] >= e["start_at"] for e in spoken)
    roles = [e["role"] for e in call["transcript"]]
    assert "tool_call_invocation" in roles and "tool_call_result" in roles
    assert call["call_analysis"]["summary"] and call["call_analysis"]["user_sentiment"] == "positive"
    assert call["call_cost"]["total_cost"] != "0.00"
