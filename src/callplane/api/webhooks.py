"""Webhook endpoints, deliveries, redeliveries and test events (`/admin/v1/...`, `webhooks:admin`).

Part of the admin API (Vox error envelope, `Idempotency-Key` on the endpoint create). What is
sent, and how it is signed per format, is documented in `engine/services/webhooks.py` and
`engine/services/webhook_formats.py`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel

from callplane.api.deps import ServicesDep, WebhooksAdmin
from callplane.api.dialects.common import known_fields
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.idempotent import IdempotentRequest
from callplane.api.responses import JSON
from callplane.domain.errors import ValidationFailed
from callplane.engine.services.webhooks import Endpoint, WebhookAdmin
from callplane.store.deliveries import DeliveryLog
from callplane.store.outbox import DeliveryStatus

router = APIRouter(prefix="/admin/v1", route_class=VoxRoute, tags=["Webhooks"])

ENDPOINT_FIELDS = ("url", "events", "agent_id", "description", "format", "secret")


class WebhookEndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    agent_id: str | None
    description: str
    enabled: bool
    disabled_reason: str | None
    created_at: int
    #: `vox` (Vox's v2 envelope, Standard Webhooks) or `retell` (Retell's body, X-Retell-Signature)
    format: str


class CreatedWebhookEndpointOut(WebhookEndpointOut):
    secret: str  #: shown this once


class SigningSecretOut(BaseModel):
    secret: str


class WebhookAttemptOut(BaseModel):
    attempt: int
    at: int
    status_code: int | None
    error: str | None
    duration_ms: int


class WebhookDeliveryOut(BaseModel):
    id: str
    event_id: str
    event: str
    endpoint_id: str | None
    url: str
    status: str
    attempts: list[WebhookAttemptOut]
    next_attempt_at: int | None  #: when it is tried next, while pending


def _webhooks(services: Any) -> WebhookAdmin:
    return WebhookAdmin(services.db, services.clock.now_ms, services.settings.allow_private_destinations)


def endpoint_view(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "events": endpoint.events,
        "agent_id": endpoint.agent_id,
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at,
        "format": endpoint.format,
    }


def delivery_view(d: DeliveryLog) -> dict[str, Any]:
    return {
        "id": d.id,
        "event_id": d.event_id,
        "event": d.event_type,
        "endpoint_id": d.endpoint_id,
        "url": d.url,
        "status": d.status.value,
        "attempts": [
            {
                "attempt": a.attempt,
                "at": a.at,
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in d.log
        ],
        "next_attempt_at": d.next_attempt_at if d.status is DeliveryStatus.PENDING else None,
    }


@router.post("/webhook-endpoints", status_code=201, response_model=CreatedWebhookEndpointOut)
def add_webhook_endpoint(
    org: WebhooksAdmin,
    services: ServicesDep,
    idem: IdempotentRequest,
    body: Annotated[dict[str, Any], Body(default_factory=dict)],
) -> Response:
    """Add an endpoint; the response carries its signing secret, shown this once.

    `format: "retell"` sends Retell's payloads signed with `X-Retell-Signature` (call events
    only); `secret` may set the key it is signed with (24–100 characters), e.g. the API key a
    Retell handler already verifies with."""
    return idem.run(org, lambda: _add_webhook_endpoint(org, services, body), secrets=("secret",))


def _add_webhook_endpoint(org: str, services: Any, body: dict[str, Any]) -> JSON:
    known_fields(body, ENDPOINT_FIELDS)
    if "url" not in body:
        raise ValidationFailed.single("url", "is required")
    created = _webhooks(services).add(
        org,
        body["url"],
        events=body.get("events"),
        agent_id=body.get("agent_id"),
        description=body.get("description", ""),
        format=body.get("format"),
        secret=body.get("secret"),
    )
    return JSON({**endpoint_view(created.endpoint), "secret": created.secret}, status_code=201)


@router.get("/webhook-endpoints", response_model=list[WebhookEndpointOut])
def list_webhook_endpoints(org: WebhooksAdmin, services: ServicesDep) -> JSON:
    return JSON([endpoint_view(e) for e in _webhooks(services).endpoints(org)])


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, response_class=Response)
def remove_webhook_endpoint(endpoint_id: str, org: WebhooksAdmin, services: ServicesDep) -> Response:
    _webhooks(services).remove(org, endpoint_id)
    return Response(status_code=204)


@router.post("/webhook-endpoints/agent-url-secret", status_code=201, response_model=SigningSecretOut)
def rotate_agent_url_secret(org: WebhooksAdmin, services: ServicesDep) -> JSON:
    """A new secret for agent versions' own `webhook_url` deliveries; shown this once."""
    return JSON({"secret": _webhooks(services).rotate_agent_url_secret(org)}, status_code=201)


@router.post("/webhook-endpoints/{endpoint_id}/test", status_code=202, response_model=WebhookDeliveryOut)
def send_test_event(endpoint_id: str, org: WebhooksAdmin, services: ServicesDep) -> JSON:
    """Queue a `test` event to the endpoint, in its format and signed like its real events.

    Answers the delivery (pending); follow it at `GET /admin/v1/webhook-deliveries/{id}`."""
    return JSON(delivery_view(_webhooks(services).send_test(org, endpoint_id)), status_code=202)


@router.get("/webhook-deliveries/{delivery_id}", response_model=WebhookDeliveryOut)
def get_webhook_delivery(delivery_id: str, org: WebhooksAdmin, services: ServicesDep) -> JSON:
    return JSON(delivery_view(_webhooks(services).delivery(org, delivery_id)))


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver", status_code=201, response_model=WebhookDeliveryOut
)
def redeliver_webhook(delivery_id: str, org: WebhooksAdmin, services: ServicesDep) -> JSON:
    """Send a finished delivery's event again (same event id and body), as a new delivery due now.

    409 while the delivery is still pending or when its endpoint is disabled."""
    return JSON(delivery_view(_webhooks(services).redeliver(org, delivery_id)), status_code=201)


@router.get("/calls/{call_id}/webhook-deliveries", response_model=list[WebhookDeliveryOut])
def call_webhook_deliveries(call_id: str, org: WebhooksAdmin, services: ServicesDep) -> JSON:
    """Every webhook delivery of a call, with each attempt: what was sent where, and how it went."""
    call = services.calls.get(org, call_id)
    return JSON([delivery_view(d) for d in _webhooks(services).deliveries(org, call.id)])
