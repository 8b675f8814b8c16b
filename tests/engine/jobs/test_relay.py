"""The relay: a running relay delivering an event committed in its process without waiting for its
poll, an attempt's time limit, and one call's events posted in the order they were written.
(The claim itself: `tests/store/test_deliveries.py`.)"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import orjson

from callplane.engine.clock import FixedClock, SystemClock
from callplane.engine.jobs.relay import Relay, RelayConfig
from callplane.engine.services.webhooks import new_event_id
from callplane.store import deliveries, outbox
from callplane.store.db import Database
from callplane.store.deliveries import AttemptResult
from callplane.store.outbox import DeliveryStatus, NewEvent, Subject, SubjectKind, Target
from tests.engine.services.test_webhooks import FAST, all_delivered, canceled_call, local_webhooks
from tests.factories import Tenant
from tests.fakes.server import serve_in_thread
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.store.test_deliveries import _event


def test_a_running_relay_is_woken_by_events_committed_in_its_process(db: Database, tenant: Tenant) -> None:
    """Its poll is an hour: only the wake-up can have delivered the event."""
    clock = SystemClock()
    receiver = WebhookReceiver()
    relay = Relay(db, clock, FAST)

    async def main() -> str:
        task = asyncio.create_task(relay.run(idle_s=3600))
        await asyncio.sleep(0.5)  # its first pass looks (and finds nothing) before the event exists
        call_id = await asyncio.to_thread(canceled_call, db, FixedClock(clock.now_ms()), tenant)
        deadline = time.monotonic() + 60
        while not await asyncio.to_thread(all_delivered, db, tenant, [call_id]):
            assert time.monotonic() < deadline and not task.done(), "not delivered"
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await relay.aclose()
        return call_id

    with serve_in_thread(receiver.app) as url:
        local_webhooks(db, clock.now_ms).add(tenant.organization_id, f"{url}/hooks")
        asyncio.run(main())
    assert [r.json()["event"] for r in receiver.accepted()] == ["call_ended"]


def test_an_attempt_is_cut_off_after_its_timeout_all_told(db: Database, tenant: Tenant) -> None:
    """A receiver that trickles its answer a byte at a time never trips httpx's per-read
    timeout; the attempt still ends after `timeout_s`, so the relay's lease (timeout + 10 s)
    always outlasts it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-slow: " + b"a" * 100:
                if stop.wait(0.2):
                    return
                conn.sendall(bytes([byte]))

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    now = SystemClock().now_ms()
    local_webhooks(db, lambda: now).rotate_agent_url_secret(tenant.organization_id)
    config = RelayConfig(timeout_s=1, allow_private=True, jitter=0.0)
    relay = Relay(db, FixedClock(now), config)
    _event(db, tenant, now, [Target(f"http://127.0.0.1:{port}/hooks", None)])
    with db.write() as conn:
        [due] = [
            d for d in deliveries.claim_deliveries(conn, now, config.lease_ms, 10) if d.url.endswith("/hooks")
        ]

    async def attempt() -> AttemptResult:
        try:
            return await relay.attempt(due)
        finally:
            await relay.aclose()

    try:
        result = asyncio.run(attempt())
    finally:
        stop.set()
        listener.close()
    assert result.outcome is DeliveryStatus.PENDING and result.error == "timed out after 1 s"
    assert config.lease_ms == 11_000


def test_a_calls_events_reach_an_endpoint_in_the_order_they_were_written(
    db: Database, tenant: Tenant
) -> None:
    """`call_ended` and `call_analyzed` committed together; the end's first attempt fails: the
    analysis waits for the end's retry instead of overtaking it (through the real relay)."""

    def answer(_path: str, webhook_id: str, attempt: int) -> tuple[int, dict[str, str]]:
        return (500, {}) if webhook_id == ended_id and attempt == 1 else (204, {})

    receiver = WebhookReceiver(answer=answer)
    clock = SystemClock()
    now = clock.now_ms()
    call = Subject(SubjectKind.CALL, tenant.agent_id)  # any id: the relay never reads the call
    ended_id, analyzed_id = new_event_id(), new_event_id()  # in this order, as `emit_all` makes them

    async def deliver_all(relay: Relay) -> None:
        deadline = time.monotonic() + 30
        try:
            while len(receiver.accepted()) < 2:
                assert time.monotonic() < deadline, receiver.received
                await relay.deliver_due()
                await asyncio.sleep(0.06)  # past the retry's 50 ms
        finally:
            await relay.aclose()

    with serve_in_thread(receiver.app) as url:
        endpoint = local_webhooks(db, clock.now_ms).add(tenant.organization_id, f"{url}/hooks").endpoint
        target = Target(endpoint.url, endpoint.id)
        with db.write() as conn:
            outbox.add_events(
                conn,
                tenant.organization_id,
                [
                    NewEvent(event_id, call, kind, orjson.dumps({"event": kind}).decode(), [target])
                    for event_id, kind in ((ended_id, "call_ended"), (analyzed_id, "call_analyzed"))
                ],
                now,
            )
        asyncio.run(deliver_all(Relay(db, clock, FAST)))
    assert [(r.json()["event"], r.status) for r in receiver.received] == [
        ("call_ended", 500),
        ("call_ended", 204),
        ("call_analyzed", 204),
    ]
