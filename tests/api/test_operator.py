"""The operator API: the operator token's powers, and nobody else's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.engine.clock import SystemClock
from callplane.store.db import Database
from tests.factories import Tenant, call_body, make_tenant

TOKEN = "op_" + "x" * 40
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def operator_client(db: Database) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db.url, operator_token=TOKEN), db=db)
    with TestClient(app) as test_client:
        yield test_client


def test_the_operator_sets_up_an_organization(operator_client: TestClient) -> None:
    c = operator_client
    created = c.post(
        "/operator/v1/organizations",
        json={"name": "Acme", "balance": "5000.00", "rate_per_minute": "90.00", "max_concurrent_calls": 3},
        headers=OPERATOR,
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert (org["name"], org["balance"], org["rate_per_minute"], org["max_concurrent_calls"]) == (
        "Acme",
        "5000.00",
        "90.00",
        3,
    )
    org_id = org["id"]
    assert [o["id"] for o in c.get("/operator/v1/organizations", headers=OPERATOR).json()] == [org_id]
    updated = c.patch(
        f"/operator/v1/organizations/{org_id}",
        json={"balance": None, "daily_call_limit": 100, "max_queue_wait_s": 60},
        headers=OPERATOR,
    )
    assert updated.status_code == 200 and updated.json()["balance"] is None
    assert c.get(f"/operator/v1/organizations/{org_id}", headers=OPERATOR).json()["daily_call_limit"] == 100

    issued = c.post(
        f"/operator/v1/organizations/{org_id}/keys",
        json={"name": "admin", "scopes": ["agents:admin", "calls:read"]},
        headers=OPERATOR,
    )
    assert issued.status_code == 201 and issued.json()["scopes"] == ["agents:admin", "calls:read"]
    tenant_key = {"Authorization": f"Bearer {issued.json()['key']}"}
    assert c.get("/admin/v1/organization", headers=tenant_key).json()["id"] == org_id
    assert c.get("/admin/v1/agents", headers=tenant_key).status_code == 200
    default = c.post(f"/operator/v1/organizations/{org_id}/keys", json={}, headers=OPERATOR).json()
    assert default["scopes"] == ["calls:read", "calls:write"]
    listed = c.get(f"/operator/v1/organizations/{org_id}/keys", headers=OPERATOR).json()
    assert len(listed) == 2
    assert (
        c.delete(f"/operator/v1/organizations/{org_id}/keys/{default['id']}", headers=OPERATOR).status_code
        == 204
    )

    assigned = c.post(
        f"/operator/v1/organizations/{org_id}/numbers", json={"number": "07055556666"}, headers=OPERATOR
    )
    assert assigned.status_code == 201 and assigned.json()["e164"] == "+827055556666"
    approved = c.put(
        f"/operator/v1/organizations/{org_id}/presentation-numbers/0255556666", json={}, headers=OPERATOR
    )
    assert approved.status_code == 200 and approved.json()["approved"] is True
    assert c.get(f"/operator/v1/organizations/{org_id}/numbers", headers=OPERATOR).json()[0]["number"] == (
        "07055556666"
    )
    assert (
        c.delete(f"/operator/v1/organizations/{org_id}/numbers/07055556666", headers=OPERATOR).status_code
        == 204
    )


def test_a_refused_setting_creates_no_organization(operator_client: TestClient) -> None:
    bad = operator_client.post(
        "/operator/v1/organizations", json={"name": "Acme", "max_concurrent_calls": 0}, headers=OPERATOR
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    assert operator_client.get("/operator/v1/organizations", headers=OPERATOR).json() == []


def test_no_organization_key_opens_the_operator_api(operator_client: TestClient, tenant: Tenant) -> None:
    for headers in (
        tenant.headers,  # every tenant scope, still no operator power
        {"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": TOKEN},
        {},
    ):
        response = operator_client.get("/operator/v1/organizations", headers=headers)
        assert response.status_code == 401, headers
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
        patched = operator_client.patch(
            f"/operator/v1/organizations/{tenant.organization_id}", json={"balance": None}, headers=headers
        )
        assert patched.status_code == 401
    org = operator_client.get("/admin/v1/organization", headers=tenant.headers).json()
    assert org["balance"] == "100000.00"


def test_the_operator_token_opens_no_organization_api(operator_client: TestClient, tenant: Tenant) -> None:
    assert operator_client.get("/v3/calls", headers=OPERATOR).status_code == 401
    assert operator_client.get("/admin/v1/organization", headers=OPERATOR).status_code == 401


def test_without_a_token_the_operator_api_is_off(client: TestClient) -> None:
    response = client.get("/operator/v1/organizations", headers=OPERATOR)
    assert response.status_code == 404 and "CALLPLANE_OPERATOR_TOKEN" in response.json()["error"]["message"]


def test_an_owned_number_has_one_owner(operator_client: TestClient, db: Database, tenant: Tenant) -> None:
    other = make_tenant(db, SystemClock().now_ms(), "other org")
    taken = operator_client.post(
        f"/operator/v1/organizations/{other.organization_id}/numbers",
        json={"number": "07011112222"},
        headers=OPERATOR,
    )
    assert taken.status_code == 409, taken.text
    assert (
        taken.json()["error"]["code"] == "CONFLICT"
        and "another organization" in taken.json()["error"]["message"]
    )
    owned = operator_client.get(
        f"/operator/v1/organizations/{tenant.organization_id}/numbers", headers=OPERATOR
    )
    assert "07011112222" in [n["number"] for n in owned.json()]
    # B cannot call from it; A still can.
    refused = operator_client.post(
        "/v3/calls", json={**call_body(other), "from_number": "07011112222"}, headers=other.headers
    )
    assert refused.status_code == 400
    assert (
        operator_client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).status_code == 201
    )


def test_an_approved_caller_id_has_one_organization(
    operator_client: TestClient, db: Database, tenant: Tenant
) -> None:
    other = make_tenant(db, SystemClock().now_ms(), "other org")
    requested = operator_client.post(
        "/admin/v1/presentation-numbers", json={"number": "0212345678"}, headers=other.headers
    )
    assert requested.status_code == 201 and requested.json()["approved"] is False
    path = f"/operator/v1/organizations/{other.organization_id}/presentation-numbers/0212345678"
    assert operator_client.put(path, json={"approved": True}, headers=OPERATOR).status_code == 409
    mine = f"/operator/v1/organizations/{tenant.organization_id}/presentation-numbers"
    assert operator_client.get(mine, headers=OPERATOR).json()[0]["approved"] is True
    # Withdrawn from A, it can be approved for B.
    assert operator_client.put(f"{mine}/0212345678", json={"approved": False}, headers=OPERATOR).json() == {
        "number": "0212345678",
        "e164": "+82212345678",
        "approved": False,
    }
    assert operator_client.put(path, json={"approved": True}, headers=OPERATOR).json()["approved"] is True


def test_unknown_organizations_are_404(operator_client: TestClient) -> None:
    for method, path in (
        ("GET", "/operator/v1/organizations/nope"),
        ("PATCH", "/operator/v1/organizations/nope"),
        ("POST", "/operator/v1/organizations/nope/keys"),
        ("GET", "/operator/v1/organizations/nope/keys"),
        ("POST", "/operator/v1/organizations/nope/numbers"),
        ("PUT", "/operator/v1/organizations/nope/presentation-numbers/0212345678"),
    ):
        body = {"number": "07055556666"} if path.endswith("numbers") else {}
        response = operator_client.request(method, path, json=body, headers=OPERATOR)
        assert response.status_code == 404, (method, path, response.text)


def test_operator_creates_honour_the_idempotency_key(operator_client: TestClient) -> None:
    c, keyed = operator_client, {**OPERATOR, "Idempotency-Key": "op-1"}
    first = c.post("/operator/v1/organizations", json={"name": "Once"}, headers=keyed)
    again = c.post("/operator/v1/organizations", json={"name": "Once"}, headers=keyed)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert [o["name"] for o in c.get("/operator/v1/organizations", headers=OPERATOR).json()] == ["Once"]
    other = c.post("/operator/v1/organizations", json={"name": "Twice"}, headers=keyed)
    assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"

    org_id = first.json()["id"]
    numbers = f"/operator/v1/organizations/{org_id}/numbers"
    number_keyed = {**OPERATOR, "Idempotency-Key": "op-2"}
    assert c.post(numbers, json={"number": "07066667777"}, headers=number_keyed).status_code == 201
    assert c.post(numbers, json={"number": "07066667777"}, headers=number_keyed).status_code == 201
    # A key is shown once: its replay says so instead of issuing (or storing) it again.
    keys, key_keyed = f"/operator/v1/organizations/{org_id}/keys", {**OPERATOR, "Idempotency-Key": "op-3"}
    issued = c.post(keys, json={"name": "crm"}, headers=key_keyed)
    assert issued.status_code == 201 and issued.json()["key"]
    assert c.post(keys, json={"name": "crm"}, headers=key_keyed).status_code == 409
    assert len(c.get(keys, headers=OPERATOR).json()) == 1
