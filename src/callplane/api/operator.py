"""The operator API (`/operator/v1/...`): what the person running callplane does over HTTP.

Organisations and their billing (balance, rate), limits and calling rules; keys issued to an
organisation; which organisation owns a number; which caller IDs are approved. The CLI does the
same against the database; both go through `engine.services.admin.Admin`, so the rules are one.

The operator is `Authorization: Bearer <CALLPLANE_OPERATOR_TOKEN>`, compared in constant time.
No organisation's key opens this API, whatever its scopes. Unset, the API answers 404: it is off.
Errors use the native (Vox) error envelope.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from callplane.api.admin import (
    JsonBody,
    JsonObject,
    inbound_agent_field,
    issued_view,
    key_request,
    key_view,
    number_view,
    org_view,
    owned_view,
)
from callplane.api.admin_schemas import (
    IssuedKeyOut,
    KeyOut,
    NumberOut,
    OrganizationOut,
    PresentationNumberOut,
)
from callplane.api.deps import DeclaresBearer, ServicesDep
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.idempotent import IdempotentRequest
from callplane.api.ratelimit import limits_of
from callplane.api.responses import JSON
from callplane.domain.errors import NotFound, Unauthorized, ValidationFailed
from callplane.domain.phone import parse_any
from callplane.domain.principal import parse_scopes
from callplane.engine.live.telephony.registry import SIMULATED
from callplane.engine.services.admin import Admin


async def operator(request: Request, services: ServicesDep, _declared: DeclaresBearer) -> None:
    expected = services.settings.operator_token
    if expected is None:
        raise NotFound("the operator API is off; set CALLPLANE_OPERATOR_TOKEN to turn it on")
    # The token holds every organisation's billing: guessing it is throttled per source address
    # like an organisation key (429 before the comparison once an address has failed too often).
    limits = limits_of(request)
    await limits.before_credentials(request)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        await limits.credential_failed(request)
        raise Unauthorized("send the operator token as 'Authorization: Bearer <CALLPLANE_OPERATOR_TOKEN>'")


router = APIRouter(
    prefix="/operator/v1", route_class=VoxRoute, tags=["Operator"], dependencies=[Depends(operator)]
)


def _admin(services: ServicesDep) -> Admin:
    return Admin(services.db, services.clock.now_ms)


#: Whose `Idempotency-Key`s the operator's creates are remembered under (they belong to no
#: organisation; the fingerprint includes the path, so one key cannot answer for two routes).
OPERATOR_KEYS = "00000000-0000-0000-0000-000000000000"


@router.post("/organizations", status_code=201, response_model=OrganizationOut)
def create_organization(services: ServicesDep, idem: IdempotentRequest, body: JsonBody) -> Response:
    """`name` and any organisation setting (balance, rate_per_minute, limits, calling_window)."""
    return idem.run(OPERATOR_KEYS, lambda: _create_organization(services, body))


def _create_organization(services: ServicesDep, body: dict[str, Any]) -> JSON:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed.single("name", "must be a non-empty string")
    settings = {k: v for k, v in body.items() if k != "name"}
    return JSON(org_view(_admin(services).create_organization(name.strip(), **settings)), status_code=201)


@router.get("/organizations", response_model=list[OrganizationOut])
def list_organizations(services: ServicesDep) -> JSON:
    return JSON([org_view(o) for o in _admin(services).organizations()])


@router.get("/organizations/{org_id}", response_model=OrganizationOut)
def get_organization(org_id: str, services: ServicesDep) -> JSON:
    return JSON(org_view(_admin(services).organization(org_id)))


@router.patch("/organizations/{org_id}", response_model=OrganizationOut)
def update_organization(org_id: str, services: ServicesDep, body: dict[str, Any] = JsonObject) -> JSON:
    """Any setting: name, calling_window, balance (null: postpaid), rate_per_minute, limits."""
    return JSON(org_view(_admin(services).update_organization(org_id, body)))


@router.post("/organizations/{org_id}/keys", status_code=201, response_model=IssuedKeyOut)
def issue_key(org_id: str, services: ServicesDep, idem: IdempotentRequest, body: JsonBody) -> Response:
    """A key for the organisation with any tenant `scopes` (default calls:read + calls:write)."""
    return idem.run(OPERATOR_KEYS, lambda: _issue_key(org_id, services, body), secrets=("key", "secret"))


def _issue_key(org_id: str, services: ServicesDep, body: dict[str, Any]) -> JSON:
    name, kind, scopes = key_request(body)
    issued = _admin(services).issue_key(org_id, name, kind=kind, scopes=parse_scopes(scopes))
    return JSON(issued_view(issued), status_code=201)


@router.get("/organizations/{org_id}/keys", response_model=list[KeyOut])
def list_keys(org_id: str, services: ServicesDep) -> JSON:
    admin = _admin(services)
    admin.organization(org_id)
    return JSON([key_view(k) for k in admin.keys(org_id)])


@router.delete("/organizations/{org_id}/keys/{credential_id}", status_code=204)
def revoke_key(org_id: str, credential_id: str, services: ServicesDep) -> Response:
    _admin(services).revoke_key(org_id, credential_id)
    return Response(status_code=204)


@router.post("/organizations/{org_id}/numbers", status_code=201, response_model=NumberOut)
def assign_number(org_id: str, services: ServicesDep, idem: IdempotentRequest, body: JsonBody) -> Response:
    """Give the organisation a number to call from; 409 while another organisation owns it."""
    return idem.run(OPERATOR_KEYS, lambda: _assign_number(org_id, services, body))


def _assign_number(org_id: str, services: ServicesDep, body: dict[str, Any]) -> JSON:
    if "number" not in body:
        raise ValidationFailed.single("number", "is required")
    label = body.get("label", "")
    if not isinstance(label, str):
        raise ValidationFailed.single("label", "must be a string")
    provider = body.get("provider", SIMULATED)
    if not isinstance(provider, str):
        raise ValidationFailed.single("provider", "must be a string")
    inbound = inbound_agent_field(body) if "inbound_agent_id" in body else None
    owned = _admin(services).add_number(
        org_id, parse_any(body["number"], "number"), label, provider=provider, inbound_agent_id=inbound
    )
    return JSON(owned_view(owned), status_code=201)


@router.patch("/organizations/{org_id}/numbers/{number}", status_code=204)
def set_inbound_agent(org_id: str, number: str, services: ServicesDep, body: JsonBody) -> Response:
    _admin(services).set_inbound_agent(org_id, parse_any(number, "number"), inbound_agent_field(body))
    return Response(status_code=204)


@router.get("/organizations/{org_id}/numbers", response_model=list[NumberOut])
def list_numbers(org_id: str, services: ServicesDep) -> JSON:
    admin = _admin(services)
    admin.organization(org_id)
    return JSON([owned_view(n) for n in admin.numbers(org_id)])


@router.delete("/organizations/{org_id}/numbers/{number}", status_code=204)
def remove_number(org_id: str, number: str, services: ServicesDep) -> Response:
    _admin(services).remove_number(org_id, parse_any(number, "number"))
    return Response(status_code=204)


@router.put("/organizations/{org_id}/presentation-numbers/{number}", response_model=PresentationNumberOut)
def approve_presentation_number(
    org_id: str, number: str, services: ServicesDep, body: dict[str, Any] = JsonObject
) -> JSON:
    """`{"approved": true}` approves the caller ID (409 while approved for another organisation);
    false withdraws the approval and leaves it requested."""
    approved = body.get("approved", True)
    if not isinstance(approved, bool):
        raise ValidationFailed.single("approved", "must be true or false")
    result = _admin(services).approve_presentation_number(org_id, parse_any(number, "number"), approved)
    return JSON({**number_view(result.number), "approved": result.approved})


@router.get("/organizations/{org_id}/presentation-numbers", response_model=list[PresentationNumberOut])
def list_presentation_numbers(org_id: str, services: ServicesDep) -> JSON:
    admin = _admin(services)
    admin.organization(org_id)
    return JSON(
        [{**number_view(p.number), "approved": p.approved} for p in admin.presentation_numbers(org_id)]
    )
