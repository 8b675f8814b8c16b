"""Scopes in the dialects: a valid key without the scope a route needs is a 403 in that dialect's
own error shape, and nothing happens."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from callplane.domain.principal import Scope
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from tests.factories import Tenant, call_body

READ = frozenset({Scope.CALLS_READ})
WRITE = frozenset({Scope.CALLS_WRITE})


def bearer(db: Database, tenant: Tenant, scopes: frozenset[Scope]) -> dict[str, str]:
    issued = Admin(db, SystemClock().now_ms).issue_key(tenant.organization_id, "scoped", scopes=scopes)
    return {"Authorization": f"Bearer {issued.key}"}


def pair(db: Database, tenant: Tenant, scopes: frozenset[Scope]) -> dict[str, str]:
    issued = Admin(db, SystemClock().now_ms).issue_key(
        tenant.organization_id, "scoped pair", kind="key_secret", scopes=scopes
    )
    assert issued.secret is not None
    return {"X-API-KEY": issued.key, "X-API-SECRET": issued.secret}


def no_calls(client: TestClient, tenant: Tenant) -> bool:
    listed = client.get("/v3/calls", headers=tenant.headers)
    assert listed.status_code == 200
    return listed.json()["items"] == []


def dialect_create(tenant: Tenant) -> dict[str, tuple[str, dict[str, Any]]]:
    e164 = {"from_number": "+827011112222", "to_number": "+821012345678"}
    return {
        "vox": ("/v3/calls", call_body(tenant)),
        "vocode": ("/v1/calls/create", {**e164, "agent": tenant.agent_id}),
        "retell": ("/v2/create-phone-call", {**e164, "override_agent_id": tenant.agent_id}),
    }


def test_a_read_only_key_creates_no_call_in_any_dialect(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    reader = bearer(db, tenant, READ)
    creates = dialect_create(tenant)

    path, body = creates["vox"]
    vox = client.post(path, json=body, headers=reader)
    assert vox.status_code == 403
    assert vox.json()["error"]["code"] == "FORBIDDEN" and "calls:write" in vox.json()["error"]["message"]

    path, body = creates["vocode"]
    vocode = client.post(path, json=body, headers=reader)
    assert vocode.status_code == 403 and "calls:write" in vocode.json()["detail"]

    path, body = creates["retell"]
    retell = client.post(path, json=body, headers=reader)
    assert retell.status_code == 403
    assert retell.json()["status"] == "error" and "calls:write" in retell.json()["message"]

    zudu = client.post(
        "/api/calls/create-phone-call",
        json={
            "from_number": "+827011112222",
            "to_number": "+821012345678",
            "override_agent_id": tenant.agent_id,
        },
        headers=pair(db, tenant, READ),
    )
    assert zudu.status_code == 403
    assert zudu.json()["message"] == "Forbidden" and zudu.json()["status"] == "error"
    assert "calls:write" in zudu.json()["error"]

    assert no_calls(client, tenant)


def test_a_read_only_key_reads_and_cannot_cancel_or_end(
    client: TestClient, db: Database, tenant: Tenant
) -> None:
    created = client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).json()
    reader = bearer(db, tenant, READ)
    assert client.get(f"/v3/calls/{created['id']}", headers=reader).status_code == 200
    assert client.post("/v2/calls/list", json={}, headers=reader).status_code == 200
    for path in (
        f"/v3/calls/{created['id']}/cancel",
        f"/v1/calls/end?id={created['id']}",
        f"/v2/stop-call/{created['id']}",
    ):
        assert client.post(path, headers=reader).status_code == 403, path
    assert client.get(f"/v3/calls/{created['id']}", headers=reader).json()["status"] == "queued"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v3/calls", None),
        ("POST", "/v2/calls/list", {}),
        ("GET", "/v1/calls/list", None),
        ("POST", "/v3/list-calls", {}),
        ("POST", "/v2/list-calls", {}),
    ],
)
def test_a_write_only_key_lists_nothing(
    client: TestClient, db: Database, tenant: Tenant, method: str, path: str, body: Any
) -> None:
    response = client.request(method, path, json=body, headers=bearer(db, tenant, WRITE))
    assert response.status_code == 403, response.text


def test_zudu_lists_need_calls_read(client: TestClient, db: Database, tenant: Tenant) -> None:
    writer = pair(db, tenant, WRITE)
    for method in ("GET", "POST"):
        response = client.request(method, "/api/calls", headers=writer, json={} if method == "POST" else None)
        assert response.status_code == 403 and response.json()["message"] == "Forbidden"


def test_a_default_key_places_and_reads_calls(client: TestClient, db: Database, tenant: Tenant) -> None:
    """No scopes named: calls:read + calls:write, enough for a CRM."""
    issued = Admin(db, SystemClock().now_ms).issue_key(tenant.organization_id, "crm")
    headers = {"Authorization": f"Bearer {issued.key}"}
    created = client.post("/v3/calls", json=call_body(tenant), headers=headers)
    assert created.status_code == 201
    assert client.get(f"/v3/calls/{created.json()['id']}", headers=headers).status_code == 200
    assert client.get("/admin/v1/agents", headers=headers).status_code == 403
