"""Payload formats, redeliveries and test events: outbox → relay → a real receiver on 127.0.0.1.

Retell-format deliveries are checked with the official `retell-sdk`'s verifier, called the way
Retell's documentation calls it (over a re-serialisation of the parsed body).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from retell import Retell
from retell.types.phone_call_response import PhoneCallResponse
from standardwebhooks.webhooks import Webhook

from callplane.api.dialects.vox.render import v3_call
from callplane.api.dialects.vox.webhooks import call_object
from callplane.domain.errors import Conflict, NotFound, ValidationFailed
from callplane.engine.clock import FixedClock, SystemClock
from callplane.engine.jobs.relay import Relay
from callplane.engine.services.webhook_formats import FormatName, Formats, UnknownFormat
from callplane.engine.services.webhooks import EventType
from callplane.store import calls as call_store
from callplane.store.db import Database
from callplane.store.outbox import DeliveryStatus
from tests.engine.scripted import Script
from tests.engine.services.test_webhooks import (
    FAST,
    canceled_call,
    deliveries,
    local_webhooks,
    receiver,
    receiver_url,
    relay_run,
    run_worker,
)
from tests.factories import Tenant, make_tenant
from tests.fakes.webhook_receiver import Received, WebhookReceiver

# The receiver fixtures are shared with test_webhooks.py.
__all__ = ["receiver", "receiver_url"]

SDK = Retell(api_key="unused", base_url="http://127.0.0.1:9")


def retell_verified(received: Received, api_key: str) -> dict[str, Any]:
    """What a Retell customer's handler does: parse, re-serialise, verify with the SDK."""
    post_data = json.loads(received.body)
    signature = received.headers["x-retell-signature"]
    assert SDK.verify(
        json.dumps(post_data, separators=(",", ":"), ensure_ascii=False), api_key=api_key, signature=signature
    ), "retell-sdk refused the signature"
    return dict(post_data)


def test_retell_endpoints_receive_retells_shape_verified_by_the_official_sdk(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    admin = local_webhooks(db, SystemClock().now_ms)
    retell = admin.add(tenant.organization_id, f"{receiver_url}/retell", format="retell")
    vox = admin.add(tenant.organization_id, f"{receiver_url}/vox")
    assert retell.secret.startswith("key_") and retell.endpoint.format == "retell"
    ids: list[str] = []
    run_worker(db, tenant, ids, Script(ring_s=0.05, talk_s=0.3), 1)
    by_path: dict[str, list[Received]] = {"/retell": [], "/vox": []}
    for r in receiver.accepted():
        by_path[r.path].append(r)
    events = {e["event"]: e for e in (retell_verified(r, retell.secret) for r in by_path["/retell"])}
    assert set(events) == {"call_started", "call_ended", "call_analyzed"}
    for event in events.values():
        assert set(event) == {"event", "call"}
        assert isinstance(PhoneCallResponse.model_validate(event["call"]), PhoneCallResponse)
        assert event["call"]["call_id"] == ids[0]
    assert events["call_ended"]["call"]["call_status"] == "ended"
    assert "안녕하세요 홍길동님" in events["call_ended"]["call"]["transcript"]
    assert events["call_analyzed"]["call"]["call_analysis"] is not None
    # Retell's handler would refuse another key or a changed body.
    sample = by_path["/retell"][0]
    wrong = json.dumps(json.loads(sample.body), separators=(",", ":"), ensure_ascii=False)
    assert not SDK.verify(wrong, api_key=vox.secret, signature=sample.headers["x-retell-signature"])
    assert not SDK.verify(wrong + " ", api_key=retell.secret, signature=sample.headers["x-retell-signature"])
    assert "webhook-signature" not in sample.headers
    # The Vox endpoint got Vox's envelope of the same events, as separate outbox events.
    vox_events = Webhook(vox.secret).verify
    assert {vox_events(r.body, r.headers)["webhook_version"] for r in by_path["/vox"]} == {"v2"}
    assert not {r.webhook_id for r in by_path["/vox"]} & {
        r.headers.get("webhook-id") for r in by_path["/retell"]
    }


def test_a_retell_endpoint_may_sign_with_the_key_its_handler_already_holds(
    db: Database, tenant: Tenant
) -> None:
    admin = local_webhooks(db, SystemClock().now_ms)
    created = admin.add(
        tenant.organization_id, "https://h.example.com/r", format="retell", secret=tenant.api_key
    )
    assert created.secret == tenant.api_key
    for bad, field in (
        ({"format": "twilio"}, "format"),
        ({"format": "retell", "events": ["campaign_started"]}, "events"),
        ({"secret": "short"}, "secret"),
    ):
        with pytest.raises(ValidationFailed) as caught:
            admin.add(tenant.organization_id, "https://h.example.com/r", **bad)
        assert caught.value.errors[0].field == field


def test_the_vox_webhook_call_is_the_v3_call_projected(db: Database, tenant: Tenant) -> None:
    """One renderer: the webhook's call object is built from the API's v3 call, not beside it."""
    clock = FixedClock(SystemClock().now_ms())
    call_id = canceled_call(db, clock, tenant)
    with db.read() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id, with_transcript=True)
    assert call is not None
    v3 = v3_call(call)
    hook = call_object(call, EventType.CALL_ENDED, 123)
    renamed = {"call_id": "id", "call_status": "status"}
    for field, value in hook.items():
        if field not in ("occurred_at", "call_type"):
            assert value == v3[renamed.get(field, field)], field
    assert hook["occurred_at"] == 123


def test_redelivery_sends_the_same_event_again_as_a_new_delivery(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str
) -> None:
    clock = FixedClock(SystemClock().now_ms())
    admin = local_webhooks(db, clock.now_ms)
    created = admin.add(tenant.organization_id, f"{receiver_url}/hooks")
    call_id = canceled_call(db, clock, tenant)
    [pending] = deliveries(db, tenant, [call_id])
    with pytest.raises(Conflict):
        admin.redeliver(tenant.organization_id, pending.id)  # still pending: the relay will try it
    assert relay_run(Relay(db, clock, FAST)) == 1
    again = admin.redeliver(tenant.organization_id, pending.id)
    assert again.id != pending.id and again.event_id == pending.event_id
    assert again.status is DeliveryStatus.PENDING and again.log == []
    assert relay_run(Relay(db, clock, FAST)) == 1
    first, second = receiver.received
    assert first.body == second.body and first.webhook_id == second.webhook_id
    assert len(receiver.verified(created.secret)) == 2
    log = {d.id: d for d in deliveries(db, tenant, [call_id])}
    assert [a.status_code for a in log[pending.id].log] == [204]  # the original keeps its log
    assert log[again.id].status is DeliveryStatus.DELIVERED
    other = make_tenant(db, 1)
    with pytest.raises(NotFound):
        admin.redeliver(other.organization_id, pending.id)
    admin.remove(tenant.organization_id, created.endpoint.id)
    with pytest.raises(NotFound):
        admin.redeliver(tenant.organization_id, pending.id)


@pytest.mark.parametrize("format", ["vox", "retell"])
def test_a_test_event_reaches_the_endpoint_signed_in_its_format(
    db: Database, tenant: Tenant, receiver: WebhookReceiver, receiver_url: str, format: str
) -> None:
    clock = FixedClock(SystemClock().now_ms())
    admin = local_webhooks(db, clock.now_ms)
    created = admin.add(tenant.organization_id, f"{receiver_url}/hooks", format=format)
    queued = admin.send_test(tenant.organization_id, created.endpoint.id)
    assert queued.event_type == "test" and queued.status is DeliveryStatus.PENDING
    assert relay_run(Relay(db, clock, FAST)) == 1
    [received] = receiver.accepted()
    if format == "vox":
        body = Webhook(created.secret).verify(received.body, received.headers)
    else:
        body = retell_verified(received, created.secret)
    assert body["event"] == "test" and body["endpoint_id"] == created.endpoint.id
    done = admin.delivery(tenant.organization_id, queued.id)
    assert done.status is DeliveryStatus.DELIVERED and done.log[0].status_code == 204
    with pytest.raises(NotFound):
        admin.send_test(make_tenant(db, 1).organization_id, created.endpoint.id)


def test_a_process_without_the_format_refuses_rather_than_guess() -> None:
    with pytest.raises(UnknownFormat, match="retell"):
        Formats().get(FormatName.RETELL)
