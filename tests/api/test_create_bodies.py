"""Every create path: unknown fields are a clear 4xx naming them (issue 15, defect 10), and the
`Idempotency-Key` header is honoured (Retell's create ignored it)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callplane.store.db import Database
from callplane.store.schema import calls
from tests.factories import FLOW_AGENT, Tenant, call_body


def stored_calls(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(calls)).scalar_one())


def zudu_headers(tenant: Tenant) -> dict[str, str]:
    return {"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret}


def retell_body(tenant: Tenant, **extra: Any) -> dict[str, Any]:
    return {
        "from_number": "+827011112222",
        "to_number": "+821012345678",
        "override_agent_id": tenant.agent_id,
        **extra,
    }


def vocode_body(tenant: Tenant, **extra: Any) -> dict[str, Any]:
    return {"from_number": "+827011112222", "to_number": "+821012345678", "agent": tenant.agent_id, **extra}


@pytest.mark.parametrize(
    "misspelled", [{"dynamic_variabels": {"a": "b"}}, {"opt_out_sensitive_data_storage": True}]
)
def test_vox_create_refuses_unknown_fields(
    client: TestClient, tenant: Tenant, db: Database, misspelled: dict[str, Any]
) -> None:
    response = client.post("/v3/calls", json=call_body(tenant, **misspelled), headers=tenant.headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    name = next(iter(misspelled))
    assert error["details"]["field"] == name and name in error["message"]
    assert stored_calls(db) == 0


def test_vox_create_refuses_unknown_agent_fields(client: TestClient, tenant: Tenant) -> None:
    body = call_body(tenant, agent={"agent_id": tenant.agent_id, "agent_versoin": "v1"})
    response = client.post("/v3/calls", json=body, headers=tenant.headers)
    assert response.status_code == 400
    assert response.json()["error"]["details"]["field"] == "agent.agent_versoin"


def test_vocode_create_refuses_unknown_fields_in_fastapis_shape(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    response = client.post(
        "/v1/calls/create", json=vocode_body(tenant, contxt={"a": "b"}), headers=tenant.headers
    )
    assert response.status_code == 422, response.text
    [item] = response.json()["detail"]
    assert item["type"] == "extra_forbidden" and item["loc"] == ["body", "contxt"]
    # Every field of Vocode's documented request (what its SDK sends) is still accepted.
    documented = vocode_body(
        tenant,
        on_no_human_answer="hangup",
        run_do_not_call_detection=True,
        hipaa_compliant=False,
        context={"a": "b"},
        telephony_params={"x": None},
    )
    assert client.post("/v1/calls/create", json=documented, headers=tenant.headers).status_code == 200
    assert stored_calls(db) == 1


def test_zudu_and_retell_creates_refuse_unknown_fields(client: TestClient, tenant: Tenant) -> None:
    zudu = {"from_number": "+827011112222", "to_number": "+821012345678", "metadat": {}}
    response = client.post("/api/calls/create-phone-call", json=zudu, headers=zudu_headers(tenant))
    assert response.status_code == 400 and "metadat" in response.json()["error"]
    retell = client.post(
        "/v2/create-phone-call", json=retell_body(tenant, metadat={}), headers=tenant.headers
    )
    assert retell.status_code == 400 and "metadat" in retell.json()["message"]


def test_retell_create_honours_the_idempotency_key_header(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "retell-1"}
    first = client.post("/v2/create-phone-call", json=retell_body(tenant), headers=headers)
    again = client.post("/v2/create-phone-call", json=retell_body(tenant), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["call_id"] == first.json()["call_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert stored_calls(db) == 1
    # The body field names the same key; a body that disagrees with the header is a 400.
    same = client.post(
        "/v2/create-phone-call", json=retell_body(tenant, idempotency_key="retell-1"), headers=headers
    )
    assert same.status_code == 201 and same.json()["call_id"] == first.json()["call_id"]
    clash = client.post(
        "/v2/create-phone-call", json=retell_body(tenant, idempotency_key="other"), headers=headers
    )
    assert clash.status_code == 400 and "idempotency_key" in clash.json()["message"]
    different = client.post(
        "/v2/create-phone-call", json=retell_body(tenant, to_number="+821099998888"), headers=headers
    )
    assert different.status_code == 400
    assert stored_calls(db) == 1


@pytest.mark.parametrize(
    ("path", "body", "unknown"),
    [
        ("/admin/v1/agents", {**FLOW_AGENT, "descripton": "typo"}, "descripton"),
        ("/admin/v1/keys", {"name": "k", "scope": "all"}, "scope"),
        ("/admin/v1/presentation-numbers", {"number": "0311234567", "aproved": True}, "aproved"),
        ("/admin/v1/suppressions", {"number": "01099998888", "reasn": "x"}, "reasn"),
        ("/admin/v1/webhook-endpoints", {"url": "https://hooks.example.com/x", "event": ["x"]}, "event"),
    ],
)
def test_admin_creates_refuse_unknown_top_level_fields(
    client: TestClient, tenant: Tenant, path: str, body: dict[str, Any], unknown: str
) -> None:
    response = client.post(path, json=body, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["details"]["field"] == unknown


def test_admin_version_refuses_unknown_fields(client: TestClient, tenant: Tenant) -> None:
    path = f"/admin/v1/agents/{tenant.agent_id}/versions"
    response = client.post(path, json={**FLOW_AGENT, "id": tenant.agent_id}, headers=tenant.headers)
    assert response.status_code == 400 and response.json()["error"]["details"]["field"] == "id"
