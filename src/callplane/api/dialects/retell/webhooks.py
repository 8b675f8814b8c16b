"""Retell's webhook format, so a Retell customer's webhook handler works unchanged.

Body: `{"event": "call_started" | "call_ended" | "call_analyzed", "call": <the call object of
GET /v2/get-call>}` (`call_ended` with the transcript fields). Header: `X-Retell-Signature:
v=<unix ms>,d=<hex HMAC-SHA256(key=secret, msg=body + str(ms))>`, what the official `retell-sdk`'s
`Retell.verify(body, api_key, signature)` checks (and it refuses a timestamp more than 5 minutes
off, so each attempt is signed when it is made).

Retell's documented handler verifies `json.dumps(request_json, separators=(",", ":"),
ensure_ascii=False)`, a re-serialisation of the parsed body, not the raw bytes; so the body is
written with exactly that serialiser, and parsing then re-serialising it gives the same text.

Retell signs with the account's API key. Ours are stored hashed, so an endpoint has a secret of
its own (`key_…`, shown once) — or the one given at creation, e.g. the callplane API key the
handler already holds, so `verify(..., api_key=RETELL_API_KEY, ...)` keeps working as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from callplane.api.dialects.retell.render import call_object
from callplane.domain.call import Call
from callplane.domain.campaign import Campaign, Counters
from callplane.engine.services.webhooks import EventType

SIGNATURE_HEADER = "X-Retell-Signature"


def _dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


class RetellWebhooks:
    #: Retell's call events; it has no campaign events.
    events: frozenset[str] = frozenset(
        {EventType.CALL_STARTED, EventType.CALL_ENDED, EventType.CALL_ANALYZED}
    )

    def render(self, call: Call, event: str, occurred_at: int) -> str:
        return _dumps(
            {"event": event, "call": call_object(call, with_transcript=event == EventType.CALL_ENDED)}
        )

    def render_campaign(self, campaign: Campaign, counters: Counters, event: str, occurred_at: int) -> str:
        # Not in `events`: a Retell endpoint cannot subscribe to campaign events, and
        # `campaign_events.emit` asks only formats that carry them.
        raise ValueError("Retell's webhook format has no campaign events")

    def render_test(self, endpoint_id: str, occurred_at: int) -> str:
        return _dumps({"event": "test", "endpoint_id": endpoint_id, "timestamp": occurred_at})

    def sign(self, secret: str, event_id: str, at_ms: int, body: str) -> dict[str, str]:
        digest = hmac.new(secret.encode(), (body + str(at_ms)).encode(), hashlib.sha256).hexdigest()
        return {SIGNATURE_HEADER: f"v={at_ms},d={digest}"}

    def new_secret(self) -> str:
        return "key_" + secrets.token_hex(24)
