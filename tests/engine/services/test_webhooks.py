"""Webhooks end to end: outbox → relay → a real receiver on 127.0.0.1, signatures verified.

These run on a real event loop with real sockets (the relay talks HTTP), with short retry delays.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from callplane.api.dialects.vox.webhooks import VoxWebhooks
from callplane.domain.call import Call
from callplane.domain.errors import ValidationFailed
from callplane.engine.clock import FixedClock, SystemClock
from callplane.engine.jobs.relay import RETRY_SCHEDULE_S, Relay, RelayConfig, next_attempt_delay_s
from callplane.engine.jobs.worker import Worker, WorkerConfig
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.webhook_formats import standard_webhooks_headers as sign
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import deliveries as delivery_store
from callplane.store.db import Database
from callplane.store.outbox import DeliveryStatus
from tests.engine.jobs.test_worker import settled
from tests.engine.scripted import Script, ScriptedConductor, create_calls
from tests.factories import FLOW_AGENT, Tenant, make_tenant
from tests.fakes.server import serve_in_thread
from tests.fakes.webhook_receiver import WebhookReceiver

FAST = RelayConfig(timeout_s=5, allow_private=True, schedule_s=(0.05, 0.05, 0.05), jitter=0.0)
CONFIG = WorkerConfig(
    capacity=10, lease_s=30, heartbeat_s=0.5, poll_interval_s=0.05, reaper_interval_s=1, relay=FAST
)


def local_webhooks(db: Database, now: Callable[[], int]) -> WebhookAdmin:
    """Endpoints may be on loopback: the receiver listens there."""
    return WebhookAdmin(db, now, allow_private=True)


@pytest.fixture
def receiver() -> WebhookReceiver:
    return WebhookReceiver()


@pytest.fixture
def receiver_url(receiver: WebhookReceiver) -> Iterator[str]:
    with serve_in_thread(receiver.app) as url:
        yield url


def deliveries(db: Database, tenant: Tenant, ids: list[str]) -> list[delivery_store.DeliveryLog]:
    with db.read() as conn:
        return [
            d
            for call_id in ids
            for d in delivery_store.deliveries_about(conn, tenant.organization_id, call_id)
        ]


def all_delivered(db: Database, tenant: Tenant, ids: list[str]) -> bool:
    found = deliveries(db, tenant, ids)
    return bool(found) and all(d.status is DeliveryStatus.DELIVERED for d in found)


def run_worker(db: Database, tenant: Tenant, ids_box: list[str], conductor_script: Any, count: int) -> None:
    async def main() -> None:
        clock = SystemClock()
        worker = Worker(db, ScriptedConductor(clock, conductor_script), clock=clock, config=CONFIG)
        ids_box.extend(create_calls(db, clock, tenant, count))
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 60
        while not (settled(db, tenant, ids_box) and all_delivered(db, tenant, ids_box)):
            assert time.monotonic() < deadline, "webhooks not delivered within a minute"
            assert not task.done()
            await asyncio.sleep(0.05)
        worker.stop()
        await task

    asyncio.run(main())


def test_every_event_arrives_signed_at_least_once_through_failures(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    receiver.fail_first = 2
    created = local_webhooks(db, SystemClock().now_ms).add(tenant.organization_id, f"{receiver_url}/hooks")
    assert created.secret.startswith("whsec_")

    def script(call: Call) -> Script:
        return Script(ring_s=0.05, talk_s=0.2, answer=not (call.to_number or "").endswith("1"))

    ids: list[str] = []
    run_worker(db, tenant, ids, script, 3)

    events = receiver.verified(created.secret)
    by_call: dict[str, list[str]] = defaultdict(list)
    for event in events:
        by_call[event["call"]["call_id"]].append(event["event"])
    # Each event is retried on its own schedule, so arrival order is not guaranteed (occurred_at is).
    unanswered = next(i for i in ids if sorted(by_call[i]) == ["call_analyzed", "call_ended"])
    for call_id in set(ids) - {unanswered}:
        assert sorted(by_call[call_id]) == ["call_analyzed", "call_ended", "call_started"]
    # Every event was tried three times (two 500s, then 204) under one stable webhook-id.
    attempts = Counter(r.webhook_id for r in receiver.received)
    assert set(attempts.values()) == {3} and len(attempts) == len(events) == 8
    for delivery in deliveries(db, tenant, ids):
        assert [a.status_code for a in delivery.log] == [500, 500, 204]
        assert [a.error for a in delivery.log] == ["HTTP 500", "HTTP 500", None]
    # A byte changed, or another secret: the signature no longer verifies.
    sample = receiver.accepted()[0]
    with pytest.raises(WebhookVerificationError):
        Webhook(created.secret).verify(sample.body.replace(b"}", b" }", 1), sample.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(VoxWebhooks().new_secret()).verify(sample.body, sample.headers)


def test_payloads_follow_the_vox_v2_envelope(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    created = local_webhooks(db, SystemClock().now_ms).add(tenant.organization_id, f"{receiver_url}/hooks")
    ids: list[str] = []
    run_worker(db, tenant, ids, Script(ring_s=0.05, talk_s=1.5), 1)
    received = {e["event"]: e for e in receiver.verified(created.secret)}
    started, ended, analyzed = (received[e] for e in ("call_started", "call_ended", "call_analyzed"))
    common = {
        "call_id",
        "agent",
        "call_type",
        "call_status",
        "from_number",
        "to_number",
        "presentation_number",
        "dynamic_variables",
        "metadata",
        "variant_label",
        "start_at",
        "end_at",
        "occurred_at",
        "disconnection_reason",
        "opt_out_sensitive_data_storage",
    }
    assert {k for k in started if k != "call"} == {"event", "webhook_version"}
    assert started["webhook_version"] == "v2"
    assert set(started["call"]) == common
    assert set(ended["call"]) == common | {"transcript", "recording_url"}
    assert set(analyzed["call"]) == common | {"call_analysis", "call_cost", "duration_ms"}
    assert started["call"]["call_status"] == "ongoing" and started["call"]["end_at"] is None
    assert ended["call"]["call_status"] == "ended"
    assert ended["call"]["disconnection_reason"] == "user_hangup"
    assert ended["call"]["from_number"] == "07011112222" and ended["call"]["to_number"].startswith("010")
    assert ended["call"]["dynamic_variables"]["customer_name"] == "홍길동"
    assert ended["call"]["transcript"][0]["content"] == "안녕하세요 홍길동님"
    assert set(ended["call"]["transcript"][0]) == {"role", "content", "start_at", "end_at"}
    cost = analyzed["call"]["call_cost"]["total_cost"]
    assert isinstance(cost, str) and cost == "3.33"  # 2 started seconds at 100.00 KRW a minute
    assert analyzed["call"]["call_analysis"]["user_sentiment"] == "positive"
    assert analyzed["call"]["duration_ms"] == analyzed["call"]["end_at"] - analyzed["call"]["start_at"]


def test_an_agents_own_webhook_url_is_signed_with_the_organisation_secret(
    db: Database, receiver: WebhookReceiver, receiver_url: str
) -> None:
    tenant = make_tenant(db, 0, agent={**FLOW_AGENT, "webhook_url": f"{receiver_url}/agent"})
    secret = local_webhooks(db, SystemClock().now_ms).rotate_agent_url_secret(tenant.organization_id)
    ids: list[str] = []
    run_worker(db, tenant, ids, Script(ring_s=0.05, talk_s=0.1), 1)
    events = receiver.verified(secret)
    assert sorted(e["event"] for e in events) == ["call_analyzed", "call_ended", "call_started"]
    assert {r.path for r in receiver.received} == {"/agent"}


# The relay alone, on a fixed clock at the real time (signatures carry it) -----------------------


def canceled_call(db: Database, clock: FixedClock, tenant: Tenant) -> str:
    """A call whose cancel wrote one `call_ended` event to every subscribed endpoint."""
    [call_id] = create_calls(db, clock, tenant, 1)
    CallService(db, clock.now_ms).cancel(tenant.organization_id, call_id)
    return call_id


def relay_run(relay: Relay) -> int:
    return asyncio.run(_deliver(relay))


async def _deliver(relay: Relay) -> int:
    try:
        return await relay.deliver_due()
    finally:
        await relay.aclose()


def test_throttling_gone_and_redirects(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    clock = FixedClock(SystemClock().now_ms())
    answers = {
        "/slow": (429, {"retry-after": "120"}),
        "/gone": (410, {}),
        "/moved": (302, {"location": "/elsewhere"}),
    }
    receiver.answer = lambda path, _id, _n: answers.get(path, (204, {}))
    admin = local_webhooks(db, clock.now_ms)
    for path in answers:
        admin.add(tenant.organization_id, f"{receiver_url}{path}")
    call_id = canceled_call(db, clock, tenant)
    assert relay_run(Relay(db, clock, FAST)) == 3
    found = {d.url.rsplit("/", 1)[1]: d for d in deliveries(db, tenant, [call_id])}
    assert found["slow"].status is DeliveryStatus.PENDING
    assert found["slow"].next_attempt_at == clock.now_ms() + 120_000  # Retry-After beats the schedule
    assert found["gone"].status is DeliveryStatus.FAILED
    assert found["moved"].status is DeliveryStatus.PENDING and found["moved"].log[0].status_code == 302
    assert "/elsewhere" not in {r.path for r in receiver.received}
    gone = next(e for e in admin.endpoints(tenant.organization_id) if e.url.endswith("/gone"))
    assert not gone.enabled and gone.disabled_reason


def test_retries_follow_the_schedule_then_give_up(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    clock = FixedClock(SystemClock().now_ms())
    receiver.answer = lambda _path, _id, _n: (503, {})
    local_webhooks(db, clock.now_ms).add(tenant.organization_id, f"{receiver_url}/down")
    call_id = canceled_call(db, clock, tenant)
    config = RelayConfig(timeout_s=5, allow_private=True, schedule_s=(5, 300), jitter=0.0)
    assert relay_run(Relay(db, clock, config)) == 1
    assert relay_run(Relay(db, clock, config)) == 0  # not due yet
    clock.advance(5_000)
    assert relay_run(Relay(db, clock, config)) == 1
    clock.advance(299_999)
    assert relay_run(Relay(db, clock, config)) == 0
    clock.advance(1)
    assert relay_run(Relay(db, clock, config)) == 1
    [delivery] = deliveries(db, tenant, [call_id])
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 3
    assert [a.at - delivery.log[0].at for a in delivery.log] == [0, 5_000, 305_000]


def test_a_relay_that_dies_after_posting_leads_to_a_redelivery_with_the_same_id(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    clock = FixedClock(SystemClock().now_ms())
    created = local_webhooks(db, clock.now_ms).add(tenant.organization_id, f"{receiver_url}/hooks")
    call_id = canceled_call(db, clock, tenant)
    relay = Relay(db, clock, FAST)

    async def post_then_die() -> None:
        with db.write() as conn:
            [due] = delivery_store.claim_deliveries(conn, clock.now_ms(), FAST.lease_ms, 10)
        await relay.attempt(due)  # the POST lands; the process dies before recording it
        await relay.aclose()

    asyncio.run(post_then_die())
    assert relay_run(Relay(db, clock, FAST)) == 0  # hidden while the dead relay's lease runs
    clock.advance(FAST.lease_ms)
    assert relay_run(Relay(db, clock, FAST)) == 1
    first, second = receiver.verified(created.secret)
    assert first == second
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
    [delivery] = deliveries(db, tenant, [call_id])
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts == 1


def test_private_destinations_are_refused_at_registration_and_at_delivery(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    clock = FixedClock(SystemClock().now_ms())
    with pytest.raises(ValidationFailed, match="destination not allowed"):
        WebhookAdmin(db, clock.now_ms).add(tenant.organization_id, f"{receiver_url}/hooks")
    # One that got in anyway (registered while allowed, or a name that now resolves inside):
    local_webhooks(db, clock.now_ms).add(tenant.organization_id, f"{receiver_url}/hooks")
    call_id = canceled_call(db, clock, tenant)
    assert relay_run(Relay(db, clock, RelayConfig(allow_private=False))) == 1
    [delivery] = deliveries(db, tenant, [call_id])
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.last_error == "destination not allowed"  # never what the name resolved to
    assert receiver.received == []


def test_endpoints_receive_only_their_agent_and_events(db: Database, tenant: Tenant) -> None:
    clock = FixedClock(SystemClock().now_ms())
    admin = local_webhooks(db, clock.now_ms)
    other = make_tenant(db, 0, "other org")
    second_agent = Admin(db, clock.now_ms).create_agent(tenant.organization_id, FLOW_AGENT).id
    admin.add(tenant.organization_id, "https://a.example.com/all")
    admin.add(tenant.organization_id, "https://a.example.com/analyzed", events=["call_analyzed"])
    admin.add(tenant.organization_id, "https://a.example.com/other-agent", agent_id=second_agent)
    admin.add(tenant.organization_id, "https://a.example.com/this-agent", agent_id=tenant.agent_id)
    admin.add(other.organization_id, "https://b.example.com/other-org")
    call_id = canceled_call(db, clock, tenant)
    urls = sorted(d.url for d in deliveries(db, tenant, [call_id]))
    assert urls == ["https://a.example.com/all", "https://a.example.com/this-agent"]


def test_removing_an_endpoint_fails_its_pending_deliveries(db: Database, tenant: Tenant) -> None:
    clock = FixedClock(SystemClock().now_ms())
    admin = local_webhooks(db, clock.now_ms)
    endpoint = admin.add(tenant.organization_id, "https://a.example.com/x").endpoint
    call_id = canceled_call(db, clock, tenant)
    admin.remove(tenant.organization_id, endpoint.id)
    [delivery] = deliveries(db, tenant, [call_id])
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "endpoint removed")
    assert admin.endpoints(tenant.organization_id) == []


def test_the_retry_schedule_and_its_jitter() -> None:
    rng = random.Random(3)
    exact = [next_attempt_delay_s(n, RETRY_SCHEDULE_S, rng, 0.0) for n in range(1, 11)]
    assert exact == [*RETRY_SCHEDULE_S, None]
    assert sum(RETRY_SCHEDULE_S) / 3600 > 70  # about three days, as Standard Webhooks suggests
    for n in range(1, 10):
        delay = next_attempt_delay_s(n, RETRY_SCHEDULE_S, rng, 0.2)
        assert delay is not None and 0.8 * RETRY_SCHEDULE_S[n - 1] <= delay <= 1.2 * RETRY_SCHEDULE_S[n - 1]


def test_signatures_are_standard_webhooks() -> None:
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    now = int(time.time() * 1000)
    headers = sign(secret, "msg_1", now, '{"a":1}')
    assert Webhook(secret).verify('{"a":1}', headers) == {"a": 1}
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a":1}', sign(secret, "msg_1", now - 301_000, '{"a":1}'))
