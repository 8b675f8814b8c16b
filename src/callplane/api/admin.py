"""The admin API (`/admin/v1/...`): an organisation manages itself with its own API key.

Each area needs its scope (`domain.principal.Scope`); billing, limits, number ownership and
caller-ID approval are the operator's (`api/operator.py`), so here they are a 403. Errors use
the native (Vox) error envelope. Numbers are accepted as Korean domestic digits or E.164 and
returned in both forms. Create bodies with a top-level field they do not define are a 400
naming it. Creates take an `Idempotency-Key` header (`api/idempotent.py`,
`engine/services/idempotency.py`): a repeat replays the first response with `Idempotent-Replayed: true`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from callplane.api.admin_schemas import (
    AddedVersionOut,
    AdminAgentOut,
    IssuedKeyOut,
    KeyOut,
    NumberOut,
    OrganizationOut,
    PresentationNumberOut,
    PublishedOut,
    SuppressionOut,
    TrafficSplitOut,
)
from callplane.api.deps import (
    AgentsAdmin,
    AnyKey,
    KeysAdmin,
    NumbersAdmin,
    OrganizationAdmin,
    ServicesDep,
)
from callplane.api.dialects.common import known_fields
from callplane.api.dialects.vox.errors import VoxRoute
from callplane.api.idempotent import IdempotentRequest
from callplane.api.responses import JSON
from callplane.domain.agent import Agent, AgentVersion, TrafficSplit
from callplane.domain.errors import Forbidden, ValidationFailed
from callplane.domain.money import format_krw
from callplane.domain.org import Organization
from callplane.domain.phone import parse_any, to_domestic
from callplane.domain.principal import CALLER_IDS_ARE_APPROVED, NUMBERS_ARE_ASSIGNED, Principal, parse_scopes
from callplane.engine.services.admin import Admin
from callplane.store.numbers import OwnedNumber
from callplane.store.orgs import CredentialInfo, IssuedCredential

router = APIRouter(prefix="/admin/v1", route_class=VoxRoute, tags=["Admin"])

JsonObject = Body(default_factory=dict)
JsonBody = Annotated[dict[str, Any], JsonObject]
#: Top-level fields of an agent file (docs/agents.md); anything else in a create body is a 400.
AGENT_FIELDS = (
    "name",
    "type",
    "description",
    "settings",
    "pricing",
    "analysis",
    "webhook_url",
    "flow",
    "llm",
)
KEY_FIELDS = ("name", "kind", "scopes")


def _admin(services: Any) -> Admin:
    return Admin(services.db, services.clock.now_ms, services.settings.allow_private_destinations)


def number_view(e164: str) -> dict[str, str]:
    return {"number": to_domestic(e164), "e164": e164}


def owned_view(owned: OwnedNumber) -> dict[str, Any]:
    return {
        **number_view(owned.number),
        "label": owned.label,
        "provider": owned.provider,
        "inbound_agent_id": owned.inbound_agent_id,
    }


def inbound_agent_field(body: dict[str, Any]) -> str | None:
    """`inbound_agent_id`: the agent that answers calls to the number, or null to reject them."""
    if "inbound_agent_id" not in body:
        raise ValidationFailed.single("inbound_agent_id", "is required (null rejects inbound calls)")
    agent_id = body["inbound_agent_id"]
    if agent_id is not None and not isinstance(agent_id, str):
        raise ValidationFailed.single("inbound_agent_id", "must be an agent id or null")
    return agent_id


def org_view(org: Organization) -> dict[str, Any]:
    w = org.window
    return {
        "id": org.id,
        "name": org.name,
        "created_at": org.created_at,
        "calling_window": {
            "timezone": w.timezone,
            "start": f"{w.start_min // 60:02d}:{w.start_min % 60:02d}",
            "end": f"{w.end_min // 60:02d}:{w.end_min % 60:02d}",
            "days": w.days,
        },
        "max_concurrent_calls": org.limits.max_concurrent_calls,
        "max_queue_wait_s": org.limits.max_queue_wait_s,
        "hourly_call_limit": org.limits.hourly_call_limit,
        "daily_call_limit": org.limits.daily_call_limit,
        "balance": format_krw(org.balance_minor) if org.balance_minor is not None else None,
        "rate_per_minute": str(org.rate_per_minute),
    }


def agent_view(agent: Agent, versions: list[AgentVersion] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": agent.id,
        "name": agent.name,
        "current_version": agent.current_version,
        "production_version": agent.production_version,
        "created_at": agent.created_at,
    }
    if versions is not None:
        body["versions"] = [
            {
                "version": v.version,
                "kind": v.kind.value,
                "description": v.description,
                "created_at": v.created_at,
            }
            for v in versions
        ]
    return body


def _split(split: TrafficSplit) -> dict[str, Any]:
    return {
        "from_number": to_domestic(split.from_number),
        "variants": [
            {"agent_id": v.agent_id, "agent_version": v.version_spec, "weight": v.weight, "label": v.label}
            for v in split.variants
        ],
    }


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise ValidationFailed.single(name, "is required")
    return body[name]


@router.get("/organization", response_model=OrganizationOut)
def get_organization(org: AnyKey, services: ServicesDep) -> JSON:
    return JSON(org_view(_admin(services).organization(org)))


@router.patch("/organization", response_model=OrganizationOut)
def update_organization(
    org: OrganizationAdmin, services: ServicesDep, body: dict[str, Any] = JsonObject
) -> JSON:
    """Only `name` and `calling_window`: balance, rate and limits are the operator's (403)."""
    return JSON(org_view(_admin(services).tenant_update_organization(org, body)))


def issued_view(issued: IssuedCredential) -> dict[str, Any]:
    return {
        "id": issued.id,
        "kind": issued.kind,
        "name": issued.name,
        "key": issued.key,
        "secret": issued.secret,
        "scopes": sorted(issued.scopes),
    }


def key_view(k: CredentialInfo) -> dict[str, Any]:
    return {
        "id": k.id,
        "kind": k.kind,
        "name": k.name,
        "prefix": k.prefix,
        "scopes": sorted(k.scopes),
        "created_at": k.created_at,
        "revoked_at": k.revoked_at,
        "last_used_at": k.last_used_at,
    }


def key_request(body: dict[str, Any]) -> tuple[str, str, Any]:
    """`name`, `kind` and the raw `scopes` of a key-creation body."""
    kind = body.get("kind", "bearer")
    name = body.get("name", "api key")
    if not isinstance(name, str) or not isinstance(kind, str):
        raise ValidationFailed.single("name", "must be a string")
    return name, kind, body.get("scopes")


@router.post("/keys", status_code=201, response_model=IssuedKeyOut)
def create_key(
    creator: KeysAdmin, services: ServicesDep, idem: IdempotentRequest, body: JsonBody
) -> Response:
    """A key for this organisation, with `scopes` (default calls:read + calls:write) it holds itself."""
    return idem.run(
        creator.organization_id, lambda: _create_key(creator, services, body), secrets=("key", "secret")
    )


def _create_key(creator: Principal, services: Any, body: dict[str, Any]) -> JSON:
    known_fields(body, KEY_FIELDS)
    name, kind, scopes = key_request(body)
    issued = _admin(services).tenant_issue_key(creator, name, kind=kind, scopes=parse_scopes(scopes))
    return JSON(issued_view(issued), status_code=201)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(creator: KeysAdmin, services: ServicesDep) -> JSON:
    return JSON([key_view(k) for k in _admin(services).keys(creator.organization_id)])


@router.delete("/keys/{credential_id}", status_code=204)
def revoke_key(credential_id: str, creator: KeysAdmin, services: ServicesDep) -> Response:
    _admin(services).revoke_key(creator.organization_id, credential_id)
    return Response(status_code=204)


@router.post("/agents", status_code=201, response_model=AdminAgentOut)
def create_agent(
    org: AgentsAdmin, services: ServicesDep, idem: IdempotentRequest, body: JsonBody
) -> Response:
    return idem.run(org, lambda: _create_agent(org, services, body))


def _create_agent(org: str, services: Any, body: dict[str, Any]) -> JSON:
    known_fields(body, (*AGENT_FIELDS, "id"))
    agent_id = body.get("id")
    if agent_id is not None and not isinstance(agent_id, str):
        raise ValidationFailed.single("id", "must be a UUID string")
    agent = _admin(services).create_agent(org, body, agent_id)
    return JSON(agent_view(agent), status_code=201)


@router.get("/agents", response_model=list[AdminAgentOut])
def list_agents(org: AgentsAdmin, services: ServicesDep) -> JSON:
    return JSON([agent_view(a) for a in _admin(services).agents(org)])


@router.get("/agents/{agent_id}", response_model=AdminAgentOut)
def get_agent(agent_id: str, org: AgentsAdmin, services: ServicesDep) -> JSON:
    agent, versions = _admin(services).agent(org, agent_id)
    return JSON(agent_view(agent, versions))


@router.post("/agents/{agent_id}/versions", status_code=201, response_model=AddedVersionOut)
def add_version(
    agent_id: str, org: AgentsAdmin, services: ServicesDep, idem: IdempotentRequest, body: JsonBody
) -> Response:
    return idem.run(org, lambda: _add_version(agent_id, org, services, body))


def _add_version(agent_id: str, org: str, services: Any, body: dict[str, Any]) -> JSON:
    known_fields(body, AGENT_FIELDS)
    version = _admin(services).add_version(org, agent_id, body)
    return JSON({"agent_id": version.agent_id, "version": version.version}, status_code=201)


@router.post("/agents/{agent_id}/publish", response_model=PublishedOut)
def publish(
    agent_id: str, org: AgentsAdmin, services: ServicesDep, body: dict[str, Any] = JsonObject
) -> JSON:
    version = _field(body, "version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ValidationFailed.single("version", "must be an integer")
    production, previous = _admin(services).publish(org, agent_id, version)
    return JSON(
        {"agent_id": agent_id, "production_version": production, "previous_production_version": previous}
    )


@router.post("/numbers", status_code=201, response_model=NumberOut)
def add_number(org: NumbersAdmin) -> JSON:
    raise Forbidden(NUMBERS_ARE_ASSIGNED)


@router.get("/numbers", response_model=list[NumberOut])
def list_numbers(org: NumbersAdmin, services: ServicesDep) -> JSON:
    return JSON([owned_view(n) for n in _admin(services).numbers(org)])


@router.patch("/numbers/{number}", status_code=204)
def set_inbound_agent(number: str, org: NumbersAdmin, services: ServicesDep, body: JsonBody) -> Response:
    """Which of the organisation's agents answers calls to its number (null: reject them)."""
    _admin(services).set_inbound_agent(org, parse_any(number, "number"), inbound_agent_field(body))
    return Response(status_code=204)


@router.delete("/numbers/{number}", status_code=204)
def remove_number(number: str, org: NumbersAdmin) -> Response:
    raise Forbidden(NUMBERS_ARE_ASSIGNED)


@router.post("/presentation-numbers", status_code=201, response_model=PresentationNumberOut)
def request_presentation_number(
    org: NumbersAdmin, services: ServicesDep, idem: IdempotentRequest, body: JsonBody
) -> Response:
    """Ask for a caller ID: recorded as requested; calls may present it once the operator approves."""
    return idem.run(org, lambda: _request_presentation_number(org, services, body))


def _request_presentation_number(org: str, services: Any, body: dict[str, Any]) -> JSON:
    known_fields(body, ("number", "approved"))
    number = parse_any(_field(body, "number"), "number")
    approved = body.get("approved", False)
    if not isinstance(approved, bool):
        raise ValidationFailed.single("approved", "must be true or false")
    if approved:
        raise Forbidden(CALLER_IDS_ARE_APPROVED)
    added = _admin(services).request_presentation_number(org, number)
    return JSON({**number_view(added.number), "approved": added.approved}, status_code=201)


@router.get("/presentation-numbers", response_model=list[PresentationNumberOut])
def list_presentation_numbers(org: NumbersAdmin, services: ServicesDep) -> JSON:
    return JSON(
        [
            {**number_view(p.number), "approved": p.approved}
            for p in _admin(services).presentation_numbers(org)
        ]
    )


@router.put("/traffic-splits/{from_number}", response_model=TrafficSplitOut)
def set_traffic_split(
    from_number: str, org: AgentsAdmin, services: ServicesDep, body: dict[str, Any] = JsonObject
) -> JSON:
    variants = _field(body, "variants")
    if not isinstance(variants, list) or not all(isinstance(v, dict) for v in variants):
        raise ValidationFailed.single("variants", "must be a list of objects")
    split = _admin(services).set_traffic_split(org, parse_any(from_number, "from_number"), variants)
    return JSON(_split(split))


@router.get("/traffic-splits", response_model=list[TrafficSplitOut])
def list_traffic_splits(org: AgentsAdmin, services: ServicesDep) -> JSON:
    return JSON([_split(s) for s in _admin(services).traffic_splits(org)])


@router.delete("/traffic-splits/{from_number}", status_code=204)
def remove_traffic_split(from_number: str, org: AgentsAdmin, services: ServicesDep) -> Response:
    _admin(services).remove_traffic_split(org, parse_any(from_number, "from_number"))
    return Response(status_code=204)


@router.post("/suppressions", status_code=201, response_model=SuppressionOut)
def suppress(org: NumbersAdmin, services: ServicesDep, idem: IdempotentRequest, body: JsonBody) -> Response:
    return idem.run(org, lambda: _suppress(org, services, body))


def _suppress(org: str, services: Any, body: dict[str, Any]) -> JSON:
    known_fields(body, ("number", "reason"))
    number = parse_any(_field(body, "number"), "number")
    reason = body.get("reason", "do not call")
    if not isinstance(reason, str):
        raise ValidationFailed.single("reason", "must be a string")
    entry = _admin(services).suppress(org, number, reason)
    return JSON(
        {**number_view(entry.number), "reason": entry.reason, "created_at": entry.created_at}, status_code=201
    )


@router.get("/suppressions", response_model=list[SuppressionOut])
def list_suppressions(org: NumbersAdmin, services: ServicesDep) -> JSON:
    return JSON(
        [
            {**number_view(s.number), "reason": s.reason, "created_at": s.created_at}
            for s in _admin(services).suppressions(org)
        ]
    )


@router.delete("/suppressions/{number}", status_code=204)
def unsuppress(number: str, org: NumbersAdmin, services: ServicesDep) -> Response:
    _admin(services).unsuppress(org, parse_any(number, "number"))
    return Response(status_code=204)
