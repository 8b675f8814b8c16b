"""Vox's webhook format: the v2 envelope `{"event", "webhook_version": "v2", "call": {...}}`,
signed per Standard Webhooks. What each event carries is documented in
`engine/services/webhooks.py`; the call object is a projection of the Vox v3 call (`render.v3_call`),
so the API and the webhooks cannot drift apart. Differences from v3, kept from Vox's webhooks:
`call_id` for `id`, `call_status` for `status`, the stored `call_type`, and `occurred_at`.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import orjson

from callplane.api.dialects.vox.render import v3_call
from callplane.domain.call import Call
from callplane.domain.campaign import Campaign, Counters
from callplane.domain.phone import to_domestic
from callplane.engine.services.webhook_formats import standard_webhooks_headers
from callplane.engine.services.webhooks import ALL_EVENTS, EventType

WEBHOOK_VERSION = "v2"
#: Fields every call event carries, in this order.
_COMMON = (
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
)


def call_object(call: Call, event: str, occurred_at: int) -> dict[str, Any]:
    v3 = v3_call(call, with_transcript=event == EventType.CALL_ENDED)
    v3.update(call_type=call.call_type.value, call_status=v3["status"], occurred_at=occurred_at)
    body = {"call_id": call.id, **{name: v3[name] for name in _COMMON}}
    if event == EventType.CALL_ENDED:
        body.update(transcript=v3["transcript"], recording_url=v3["recording_url"])
    elif event == EventType.CALL_ANALYZED:
        body.update(
            call_analysis=v3["call_analysis"], call_cost=v3["call_cost"], duration_ms=call.duration_ms
        )
    return body


class VoxWebhooks:
    events: frozenset[str] = frozenset(ALL_EVENTS)

    def render(self, call: Call, event: str, occurred_at: int) -> str:
        envelope = {
            "event": event,
            "webhook_version": WEBHOOK_VERSION,
            "call": call_object(call, event, occurred_at),
        }
        return orjson.dumps(envelope).decode()

    def render_campaign(self, campaign: Campaign, counters: Counters, event: str, occurred_at: int) -> str:
        """`{"event", "webhook_version": "v2", "campaign": {id, name, status, from_number, agent,
        total_calls, completed_calls, failed_calls, in_progress_calls, remaining_calls,
        active_concurrency, started_at, finished_at, occurred_at}}`."""
        body = {
            "id": campaign.id,
            "name": campaign.name,
            "status": campaign.status.value,
            "from_number": to_domestic(campaign.from_number),
            "agent": (
                {"agent_id": campaign.agent_id, "agent_version": campaign.agent_version}
                if campaign.agent_id
                else None
            ),
            "total_calls": counters.total,
            "completed_calls": counters.completed,
            "failed_calls": counters.failed,
            "in_progress_calls": counters.in_progress,
            "remaining_calls": counters.remaining,
            "active_concurrency": counters.active_concurrency,
            "started_at": campaign.started_at,
            "finished_at": campaign.finished_at,
            "occurred_at": occurred_at,
        }
        return orjson.dumps({"event": event, "webhook_version": WEBHOOK_VERSION, "campaign": body}).decode()

    def render_test(self, endpoint_id: str, occurred_at: int) -> str:
        body = {
            "event": "test",
            "webhook_version": WEBHOOK_VERSION,
            "endpoint_id": endpoint_id,
            "occurred_at": occurred_at,
        }
        return orjson.dumps(body).decode()

    def sign(self, secret: str, event_id: str, at_ms: int, body: str) -> dict[str, str]:
        return standard_webhooks_headers(secret, event_id, at_ms, body)

    def new_secret(self) -> str:
        """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
