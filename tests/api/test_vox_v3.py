"""Vox v3 through the real app: seed 001's example, the documented shape, every bad input."""

from __future__ import annotations

import random
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callplane.domain.phone import parse_kr
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.store import listing
from callplane.store.db import Database
from callplane.store.schema import calls, idempotency_keys
from tests.factories import Tenant, call_body, ended_saying, insert_calls, make_tenant, random_call

V3_KEYS = {
    "id",
    "agent",
    "call_type",
    "status",
    "from_number",
    "to_number",
    "presentation_number",
    "disconnection_reason",
    "start_at",
    "end_at",
    "recording_url",
    "metadata",
    "dynamic_variables",
    "call_analysis",
    "call_cost",
    "variant_label",
    "campaign_id",  # callplane: null unless the call was made for a campaign
    "opt_out_sensitive_data_storage",
    "transcript",
}


def count_rows(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        return (
            conn.execute(select(func.count()).select_from(calls)).scalar_one(),
            conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one(),
        )


def test_seed_example_creates_a_queued_call(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == V3_KEYS
    assert body["status"] == "queued"
    assert body["call_type"] == "outbound"
    assert body["from_number"] == "07011112222" and body["to_number"] == "01012345678"
    assert body["agent"] == {"agent_id": tenant.agent_id, "agent_version": "current"}
    assert body["dynamic_variables"] == {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"}
    assert body["metadata"] == {"crm_lead_id": "lead_a1b2c3"}
    assert "홍길동".encode() in response.content  # UTF-8 as is, not \u escapes
    fetched = client.get(f"/v3/calls/{body['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_korean_variables_round_trip_byte_for_byte(client: TestClient, tenant: Tenant) -> None:
    variables = {"고객명": "김철수", "메모": "오후 2시 이후 통화 가능 😊", "nested": {"목록": ["가", "나"]}}
    response = client.post(
        "/v3/calls", json=call_body(tenant, dynamic_variables=variables), headers=tenant.headers
    )
    assert response.status_code == 201
    assert response.json()["dynamic_variables"] == variables


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to_number": "12345"}, "to_number"),
        ({"to_number": "010-1234-5678"}, "to_number"),
        ({"to_number": 1012345678}, "to_number"),
        ({"from_number": "07099998888"}, "from_number"),
        ({"from_number": None}, "from_number"),
        ({"agent": {"agent_id": "not-a-uuid"}}, "agent.agent_id"),
        ({"agent": {"agent_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}}, "agent.agent_id"),
        ({"agent": {"agent_id": "AGENT", "agent_version": "latest"}}, "agent.agent_version"),
        ({"presentation_number": "0299998888"}, "presentation_number"),
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"dynamic_variables": "x"}, "dynamic_variables"),
    ],
)
def test_bad_create_input_is_a_vox_400_and_stores_nothing(
    client: TestClient, tenant: Tenant, db: Database, change: dict[str, Any], field: str
) -> None:
    body = call_body(tenant)
    if "agent" in change and change["agent"].get("agent_id") == "AGENT":
        change = {"agent": {"agent_id": tenant.agent_id, "agent_version": "latest"}}
    body.update(change)
    response = client.post("/v3/calls", json=body, headers=tenant.headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["field"] == field
    assert count_rows(db) == (0, 0)


def test_unknown_version_and_unpublished_production(client: TestClient, tenant: Tenant) -> None:
    for version in ("v2", "production"):
        body = call_body(tenant, agent={"agent_id": tenant.agent_id, "agent_version": version})
        response = client.post("/v3/calls", json=body, headers=tenant.headers)
        assert response.status_code == 400
        assert response.json()["error"]["details"]["field"] == "agent.agent_version"


def test_malformed_bodies(client: TestClient, tenant: Tenant, db: Database) -> None:
    headers = {**tenant.headers, "Content-Type": "application/json"}
    for raw in (b"{", b"[]", b'"text"', b"null", b"{}"):
        response = client.post("/v3/calls", content=raw, headers=headers)
        assert response.status_code == 400, (raw, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert count_rows(db) == (0, 0)


def test_missing_or_bad_credentials_are_401(client: TestClient, tenant: Tenant) -> None:
    for headers in ({}, {"Authorization": "Bearer nope-nope-nope-nope"}, {"Authorization": tenant.api_key}):
        response = client.post("/v3/calls", json=call_body(tenant), headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "UNAUTHORIZED"
    # A key + secret credential does not open bearer routes.
    response = client.get("/v3/calls", headers={"Authorization": f"Bearer {tenant.key_id}"})
    assert response.status_code == 401


def test_revoked_key_is_refused(client: TestClient, tenant: Tenant, db: Database) -> None:
    admin = Admin(db, SystemClock().now_ms)
    key = admin.issue_key(tenant.organization_id, "temporary")
    headers = {"Authorization": f"Bearer {key.key}"}
    assert client.get("/v3/calls", headers=headers).status_code == 200
    admin.revoke_key(tenant.organization_id, key.id)
    assert client.get("/v3/calls", headers=headers).status_code == 401


def test_another_organizations_call_is_404(client: TestClient, tenant: Tenant, db: Database) -> None:
    created = client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).json()
    other = make_tenant(db, SystemClock().now_ms(), name="other org")
    response = client.get(f"/v3/calls/{created['id']}", headers=other.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert client.get("/v3/calls/not-even-a-uuid", headers=tenant.headers).status_code == 404
    listed = client.get("/v3/calls", headers=other.headers).json()
    assert listed["items"] == [] and listed["total_count"] == 0


def test_idempotency_key_replays_and_refuses_a_different_body(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "order-42"}
    first = client.post("/v3/calls", json=call_body(tenant), headers=headers)
    again = client.post("/v3/calls", json=call_body(tenant), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    different = client.post("/v3/calls", json=call_body(tenant, to_number="01099998888"), headers=headers)
    assert different.status_code == 422
    assert different.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert count_rows(db) == (1, 1)
    # The same key in another organisation is another key.
    other = make_tenant(db, SystemClock().now_ms(), name="other org")
    theirs = client.post(
        "/v3/calls", json=call_body(other), headers={**other.headers, "Idempotency-Key": "order-42"}
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


def test_traffic_split_resolves_the_agent_and_records_the_variant(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    admin = Admin(db, SystemClock().now_ms)
    admin.add_version(tenant.organization_id, tenant.agent_id, {**_agent_file(), "name": "v2"})
    admin.set_traffic_split(
        tenant.organization_id,
        parse_kr("07033334444", "n"),
        [
            {"agent_id": tenant.agent_id, "agent_version": "v1", "weight": 1, "label": "control"},
            {"agent_id": tenant.agent_id, "agent_version": "v2", "weight": 3, "label": "treatment"},
        ],
    )
    labels = []
    for _ in range(40):
        body = call_body(tenant, from_number="07033334444")
        del body["agent"]
        response = client.post("/v3/calls", json=body, headers=tenant.headers)
        assert response.status_code == 201, response.text
        created = response.json()
        labels.append(created["variant_label"])
        assert (
            created["agent"]["agent_version"]
            == {"control": "v1", "treatment": "v2"}[created["variant_label"]]
        )
    assert set(labels) == {"control", "treatment"}
    # Naming an agent bypasses the split; no split at all means the agent is required.
    explicit = client.post(
        "/v3/calls", json=call_body(tenant, from_number="07033334444"), headers=tenant.headers
    )
    assert explicit.json()["variant_label"] is None
    body = call_body(tenant)
    del body["agent"]
    missing = client.post("/v3/calls", json=body, headers=tenant.headers)
    assert missing.status_code == 400 and missing.json()["error"]["details"]["field"] == "agent"


def _agent_file() -> dict[str, Any]:
    from tests.factories import FLOW_AGENT

    return dict(FLOW_AGENT)


def test_presentation_number_must_be_approved(client: TestClient, tenant: Tenant, db: Database) -> None:
    ok = client.post(
        "/v3/calls", json=call_body(tenant, presentation_number="0212345678"), headers=tenant.headers
    )
    assert ok.status_code == 201 and ok.json()["presentation_number"] == "0212345678"
    Admin(db, SystemClock().now_ms).approve_presentation_number(
        tenant.organization_id, parse_kr("0211112222", "n"), approved=False
    )
    pending = client.post(
        "/v3/calls", json=call_body(tenant, presentation_number="0211112222"), headers=tenant.headers
    )
    assert pending.status_code == 400


def test_list_filters_cursor_and_errors(client: TestClient, tenant: Tenant) -> None:
    ids = [
        client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).json()["id"]
        for _ in range(7)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v3/calls", params=params, headers=tenant.headers).json()
        assert page["total_count"] == 7
        assert all("transcript" not in item for item in page["items"])
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    filtered = client.get(
        "/v3/calls",
        params={"status": "queued", "call_from": "07011112222", "metadata.crm_lead_id": "lead_a1b2c3"},
        headers=tenant.headers,
    ).json()
    assert filtered["total_count"] == 7
    assert (
        client.get("/v3/calls", params={"status": "ended"}, headers=tenant.headers).json()["total_count"] == 0
    )
    for params in (
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"cursor": "garbage!"},
        {"status": "running"},
        {"call_to": "123"},
        {"sort_order": "sideways"},
        {"unknown": "1"},
        {"start_at_after": "yesterday"},
    ):
        response = client.get("/v3/calls", params=params, headers=tenant.headers)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    # A cursor is bound to its filters.
    cursor = client.get("/v3/calls", params={"limit": 2}, headers=tenant.headers).json()["next_cursor"]
    replayed = client.get(
        "/v3/calls", params={"limit": 2, "cursor": cursor, "status": "queued"}, headers=tenant.headers
    )
    assert replayed.status_code == 400


def test_a_search_lists_at_most_its_cap_and_total_count_is_what_can_be_paged(
    client: TestClient, tenant: Tenant, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(8)
    said = [{"role": "user", "content": "예약 변경 부탁드려요", "start_at": 0, "end_at": 1}]
    made = [
        ended_saying(
            random_call(rng, tenant.organization_id, [tenant.agent_id], start_at=1_767_225_600_000 + i), said
        )
        for i in range(6)
    ]
    insert_calls(db, made)
    monkeypatch.setattr(listing, "MAX_SEARCH_RESULTS", 4)
    seen: list[str] = []
    totals: set[int] = set()
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "search": "예약", **({"cursor": cursor} if cursor else {})}
        page = client.get("/v3/calls", params=params, headers=tenant.headers).json()
        totals.add(page["total_count"])
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert totals == {4} and len(seen) == len(set(seen)) == 4


def test_cancel_a_queued_call(client: TestClient, tenant: Tenant) -> None:
    created = client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).json()
    canceled = client.post(f"/v3/calls/{created['id']}/cancel", headers=tenant.headers)
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    again = client.post(f"/v3/calls/{created['id']}/cancel", headers=tenant.headers)
    assert again.status_code == 409
