"""The admin API as an organisation's key sees it: its scopes, and the operator's powers it lacks."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from callplane.domain.principal import Scope
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from tests.factories import FLOW_AGENT, Tenant, call_body, make_tenant


def key(db: Database, tenant: Tenant, *scopes: Scope) -> dict[str, str]:
    issued = Admin(db, SystemClock().now_ms).issue_key(
        tenant.organization_id, "scoped", scopes=frozenset(scopes) or frozenset({Scope.CALLS_READ})
    )
    return {"Authorization": f"Bearer {issued.key}"}


@pytest.mark.parametrize(
    "change",
    [
        {"balance": "999999999.00"},
        {"balance": None},
        {"rate_per_minute": "0"},
        {"max_concurrent_calls": 100000},
        {"daily_call_limit": None},
        {"hourly_call_limit": 1000000},
        {"max_queue_wait_s": None},
        {"name": "renamed", "balance": "999999999.00", "rate_per_minute": "0"},
    ],
)
def test_an_organization_cannot_set_its_own_billing_or_limits(
    client: TestClient, tenant: Tenant, change: dict[str, Any]
) -> None:
    before = client.get("/admin/v1/organization", headers=tenant.headers).json()
    response = client.patch("/admin/v1/organization", json=change, headers=tenant.headers)
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert all(field in error["message"] for field in change if field != "name")
    assert client.get("/admin/v1/organization", headers=tenant.headers).json() == before


def test_an_organization_changes_its_name_and_calling_window(client: TestClient, tenant: Tenant) -> None:
    response = client.patch(
        "/admin/v1/organization",
        json={"name": "Acme", "calling_window": {"start": "09:00", "end": "18:00"}},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "Acme" and response.json()["calling_window"]["start"] == "09:00"
    assert response.json()["balance"] == "100000.00"


def test_reading_the_organization_needs_any_key_changing_it_needs_its_scope(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    calls_only = key(db, tenant, Scope.CALLS_READ, Scope.CALLS_WRITE)
    assert client.get("/admin/v1/organization", headers=calls_only).status_code == 200
    assert client.patch("/admin/v1/organization", json={"name": "x"}, headers=calls_only).status_code == 403


def test_a_calls_only_key_cannot_manage_keys_agents_numbers_or_webhooks(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    calls_only = key(db, tenant, Scope.CALLS_READ, Scope.CALLS_WRITE)
    [own] = [k for k in client.get("/admin/v1/keys", headers=tenant.headers).json() if k["name"] == "test"]
    refused = [
        ("POST", "/admin/v1/keys", {"name": "mine", "scopes": ["calls:read"]}),
        ("GET", "/admin/v1/keys", None),
        ("DELETE", f"/admin/v1/keys/{own['id']}", None),
        ("POST", "/admin/v1/agents", FLOW_AGENT),
        ("GET", "/admin/v1/agents", None),
        ("POST", f"/admin/v1/agents/{tenant.agent_id}/publish", {"version": 1}),
        ("PUT", "/admin/v1/traffic-splits/07011112222", {"variants": []}),
        ("POST", "/admin/v1/webhook-endpoints", {"url": "https://hooks.example.com/x"}),
        ("GET", "/admin/v1/webhook-endpoints", None),
        ("POST", "/admin/v1/webhook-endpoints/agent-url-secret", None),
        ("GET", "/admin/v1/numbers", None),
        ("POST", "/admin/v1/presentation-numbers", {"number": "0299998888"}),
        ("POST", "/admin/v1/suppressions", {"number": "01099998888"}),
    ]
    for method, path, body in refused:
        response = client.request(method, path, json=body, headers=calls_only)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "FORBIDDEN"
    # Nothing of it happened: the key still works, no agent, endpoint or key was added.
    assert client.get("/v3/calls", headers=tenant.headers).status_code == 200
    assert len(client.get("/admin/v1/agents", headers=tenant.headers).json()) == 1
    assert client.get("/admin/v1/webhook-endpoints", headers=tenant.headers).json() == []
    assert {k["name"] for k in client.get("/admin/v1/keys", headers=tenant.headers).json()} == {
        "test",
        "test pair",
        "scoped",
    }


def test_each_admin_area_opens_with_its_own_scope(client: TestClient, db: Database, tenant: Tenant) -> None:
    agents = key(db, tenant, Scope.AGENTS_ADMIN)
    assert client.post("/admin/v1/agents", json=FLOW_AGENT, headers=agents).status_code == 201
    assert client.get("/admin/v1/webhook-endpoints", headers=agents).status_code == 403
    webhooks = key(db, tenant, Scope.WEBHOOKS_ADMIN)
    assert client.get("/admin/v1/webhook-endpoints", headers=webhooks).status_code == 200
    assert client.get("/admin/v1/agents", headers=webhooks).status_code == 403
    numbers = key(db, tenant, Scope.NUMBERS_ADMIN)
    assert client.get("/admin/v1/numbers", headers=numbers).status_code == 200
    assert (
        client.post("/admin/v1/suppressions", json={"number": "01099998888"}, headers=numbers).status_code
        == 201
    )
    assert client.get("/v3/calls", headers=numbers).status_code == 403


def test_a_key_grants_no_scope_it_does_not_hold(client: TestClient, db: Database, tenant: Tenant) -> None:
    keys_only = key(db, tenant, Scope.KEYS_ADMIN, Scope.CALLS_READ)
    escalate = client.post(
        "/admin/v1/keys", json={"name": "wider", "scopes": ["calls:read", "agents:admin"]}, headers=keys_only
    )
    assert escalate.status_code == 403 and "agents:admin" in escalate.json()["error"]["message"]
    # The default scopes include calls:write, which this key lacks: also refused.
    assert client.post("/admin/v1/keys", json={"name": "default"}, headers=keys_only).status_code == 403
    narrower = client.post(
        "/admin/v1/keys", json={"name": "narrower", "scopes": ["calls:read"]}, headers=keys_only
    )
    assert narrower.status_code == 201 and narrower.json()["scopes"] == ["calls:read"]
    names = {k["name"]: k["scopes"] for k in client.get("/admin/v1/keys", headers=keys_only).json()}
    assert names["narrower"] == ["calls:read"] and "wider" not in names and "default" not in names


def test_keys_are_created_with_the_default_scopes_and_list_them(client: TestClient, tenant: Tenant) -> None:
    created = client.post("/admin/v1/keys", json={"name": "crm"}, headers=tenant.headers)
    assert created.status_code == 201 and created.json()["scopes"] == ["calls:read", "calls:write"]
    listed = {k["name"]: k["scopes"] for k in client.get("/admin/v1/keys", headers=tenant.headers).json()}
    assert listed["crm"] == ["calls:read", "calls:write"]
    assert listed["test"] == sorted(s.value for s in Scope)
    bad = client.post("/admin/v1/keys", json={"scopes": ["calls:everything"]}, headers=tenant.headers)
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "scopes"
    assert client.post("/admin/v1/keys", json={"scopes": []}, headers=tenant.headers).status_code == 400
    assert (
        client.post("/admin/v1/keys", json={"scopes": "calls:read"}, headers=tenant.headers).status_code
        == 400
    )


def test_an_organization_cannot_take_numbers(client: TestClient, db: Database, tenant: Tenant) -> None:
    """B tries A's owned number and caller ID: refused, and A keeps both."""
    other = make_tenant(db, SystemClock().now_ms(), "other org")
    for number in ("07011112222", "07099990000"):
        response = client.post("/admin/v1/numbers", json={"number": number}, headers=other.headers)
        assert response.status_code == 403, response.text
        assert "operator" in response.json()["error"]["message"]
    assert client.delete("/admin/v1/numbers/07011112222", headers=tenant.headers).status_code == 403
    self_approved = client.post(
        "/admin/v1/presentation-numbers",
        json={"number": "0212345678", "approved": True},
        headers=other.headers,
    )
    assert self_approved.status_code == 403 and "operator" in self_approved.json()["error"]["message"]
    assert [n["number"] for n in client.get("/admin/v1/numbers", headers=other.headers).json()] == [
        "07010012222",
        "07030014444",
    ]
    assert "07011112222" in [
        n["number"] for n in client.get("/admin/v1/numbers", headers=tenant.headers).json()
    ]
    mine = client.get("/admin/v1/presentation-numbers", headers=tenant.headers).json()
    assert mine == [{"number": "0212345678", "e164": "+82212345678", "approved": True}]


def test_an_organization_requests_a_caller_id_the_operator_approves(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    requested = client.post(
        "/admin/v1/presentation-numbers", json={"number": "0299998888"}, headers=tenant.headers
    )
    assert requested.status_code == 201 and requested.json()["approved"] is False
    refused = client.post(
        "/v3/calls", json=call_body(tenant, presentation_number="0299998888"), headers=tenant.headers
    )
    assert refused.status_code == 400 and refused.json()["error"]["details"]["field"] == "presentation_number"
    # Asking again for a caller ID already approved leaves the approval alone.
    again = client.post(
        "/admin/v1/presentation-numbers", json={"number": "0212345678"}, headers=tenant.headers
    )
    assert again.status_code == 201 and again.json()["approved"] is True
