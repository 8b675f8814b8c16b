"""Webhook payload formats by name: how a call event is rendered and signed for one endpoint.

The engine decides *when* an event happens and *who* receives it; the shape of the body and its
signature belong to a dialect (Vox's v2 envelope signed per Standard Webhooks, Retell's `{event,
call}` signed with `X-Retell-Signature`). The engine does not import `api/`, so the dialects
register their formats here when a process starts (`callplane.api.dialects.webhooks.register`,
called by the app factory and by every CLI command that opens the database — `serve`, `worker`
and the management commands alike). Emitting or relaying an event in a process where its format
is not registered raises `UnknownFormat`: a wrong payload is never sent silently.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Protocol

from standardwebhooks.webhooks import Webhook

from callplane.domain.call import Call
from callplane.domain.campaign import Campaign, Counters


class FormatName(enum.StrEnum):
    """The formats an endpoint may ask for (stored in `webhook_endpoints.format`)."""

    VOX = "vox"
    RETELL = "retell"


class WebhookFormat(Protocol):
    #: The event types this format can carry (Retell has no campaign events).
    events: frozenset[str]

    def render(self, call: Call, event: str, occurred_at: int) -> str:
        """The exact body (JSON text) for one event about `call`, as stored after the change."""
        ...

    def render_campaign(self, campaign: Campaign, counters: Counters, event: str, occurred_at: int) -> str:
        """The body of a campaign event (only for the types in `events`)."""
        ...

    def render_test(self, endpoint_id: str, occurred_at: int) -> str:
        """The body of a test event, sent on request to check an endpoint's handler."""
        ...

    def sign(self, secret: str, event_id: str, at_ms: int, body: str) -> dict[str, str]:
        """The headers that sign `body` for one attempt made at `at_ms`."""
        ...

    def new_secret(self) -> str:
        """A fresh signing secret for an endpoint of this format (shown once)."""
        ...


class UnknownFormat(LookupError):
    pass


class Formats:
    def __init__(self) -> None:
        self._formats: dict[str, WebhookFormat] = {}

    def register(self, name: FormatName, fmt: WebhookFormat) -> None:
        self._formats[name.value] = fmt

    def get(self, name: str) -> WebhookFormat:
        found = self._formats.get(name)
        if found is None:
            known = ", ".join(sorted(self._formats)) or "none"
            raise UnknownFormat(
                f"no webhook format {name!r} registered in this process (registered: {known})"
            )
        return found


#: The process-wide registry; populated by the dialects at start.
FORMATS = Formats()


def standard_webhooks_headers(secret: str, event_id: str, at_ms: int, body: str) -> dict[str, str]:
    """Standard Webhooks 1.0 through its reference library: `webhook-id` (the event id, the same
    on every attempt so receivers can deduplicate), `webhook-timestamp` (this attempt, Unix
    seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`)."""
    timestamp_s = at_ms // 1000
    signature = Webhook(secret).sign(event_id, datetime.fromtimestamp(timestamp_s, tz=UTC), body)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": signature,
    }
