"""Vocode through the real app: seed 003's page shape, honest totals, FastAPI-shaped errors."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from callplane.store.db import Database
from tests.factories import Tenant
from tests.sdk.kit import insert_every_shape

#: Seed 003's documented item keys (every one is always present).
ITEM_KEYS = {
    "id",
    "user_id",
    "status",
    "error_message",
    "recording_available",
    "transcript",
    "human_detection_result",
    "do_not_call_result",
    "telephony_id",
    "stage",
    "stage_outcome",
    "telephony_metadata",
    "start_time",
    "end_time",
    "to_number",
    "from_number",
    "agent",
    "telephony_provider",
    "agent_phone_number",
    "hipaa_compliant",
    "on_no_human_answer",
    "context",
    "run_do_not_call_detection",
    "telephony_account_connection",
    "telephony_params",
}
PAGE_KEYS = {"items", "page", "size", "has_more", "total", "total_is_estimated"}


def test_seed_request_returns_every_documented_key(client: TestClient, tenant: Tenant, db: Database) -> None:
    made = insert_every_shape(db, tenant)
    response = client.get("/v1/calls/list", headers=tenant.headers)
    assert response.status_code == 200
    page = response.json()
    assert set(page) == PAGE_KEYS
    assert page["page"] == 1 and page["size"] == 10 and page["total"] == len(made)
    assert page["has_more"] is True and page["total_is_estimated"] is False
    assert len(page["items"]) == 10
    for item in page["items"]:
        assert set(item) >= ITEM_KEYS
        assert isinstance(item["agent"], str)
        assert item["status"] in ("not_started", "in_progress", "error", "ended")
        assert item["start_time"] is None or isinstance(item["start_time"], float)
    # Default order: start time ascending (sort_desc defaults to false).
    starts = [i["start_time"] for i in page["items"] if i["start_time"] is not None]
    assert starts == sorted(starts)
    last = client.get("/v1/calls/list", params={"page": 3}, headers=tenant.headers).json()
    assert last["has_more"] is False and len(last["items"]) == len(made) - 20


def test_the_total_is_exact_and_never_flagged(client: TestClient, tenant: Tenant, db: Database) -> None:
    # Vocode's list has no transcript search, the one filter whose total can be capped.
    made = insert_every_shape(db, tenant)
    pages = [
        client.get("/v1/calls/list", params={"size": 2}, headers=tenant.headers).json() for _ in range(5)
    ]
    assert {(p["total"], p["total_is_estimated"]) for p in pages} == {(len(made), False)}


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"page": 0}, ["query", "page"]),
        ({"size": 101}, ["query", "size"]),
        ({"size": "ten"}, ["query", "size"]),
        ({"sort_desc": "maybe"}, ["query", "sort_desc"]),
        ({"sort_column": "colour"}, ["query", "sort_column"]),
    ],
)
def test_bad_list_parameters_are_fastapi_422s(
    client: TestClient, tenant: Tenant, params: dict[str, Any], loc: list[str]
) -> None:
    response = client.get("/v1/calls/list", params=params, headers=tenant.headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == loc and detail[0]["msg"] and detail[0]["type"]


def create_body(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    return {
        "from_number": "+827011112222",
        "to_number": "+821012345678",
        "agent": tenant.agent_id,
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"to_number": "12"}, ["body", "to_number"]),
        ({"from_number": "+14155550100"}, ["body", "from_number"]),
        ({"agent": "agent-123"}, ["body", "agent"]),
        ({"agent": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}, ["body", "agent"]),
        ({"agent": {"prompt": "hi"}}, ["body", "agent"]),
        ({"on_no_human_answer": "continue"}, ["body", "on_no_human_answer"]),
        ({"on_no_human_answer": "shout"}, ["body", "on_no_human_answer"]),
        ({"context": {"a": {"nested": 1}}}, ["body", "context", "a"]),
        ({"agent": None}, ["body", "agent", "str"]),
    ],
)
def test_bad_create_is_a_422(
    client: TestClient, tenant: Tenant, overrides: dict[str, Any], loc: list[str]
) -> None:
    response = client.post("/v1/calls/create", json=create_body(tenant, **overrides), headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc


def test_malformed_bodies_and_missing_ids(client: TestClient, tenant: Tenant) -> None:
    for raw in (b"{", b"[]", b"null"):
        response = client.post(
            "/v1/calls/create", content=raw, headers={**tenant.headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, raw
        assert isinstance(response.json()["detail"], list)
    for method, path in (("GET", "/v1/calls"), ("POST", "/v1/calls/end")):
        response = client.request(method, path, headers=tenant.headers)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "id"]
    for method, path in (("GET", "/v1/calls?id=nope"), ("POST", "/v1/calls/end?id=nope")):
        response = client.request(method, path, headers=tenant.headers)
        assert response.status_code == 404 and response.json() == {"detail": "Call not found"}


def test_unauthorized(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer nope-nope-nope-nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/v1/calls/list", headers=headers)
        assert response.status_code == 401 and response.json() == {"detail": "Not authenticated"}


def test_idempotency_key_reuse_keeps_the_422_shape(client: TestClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "vocode-1"}
    first = client.post("/v1/calls/create", json=create_body(tenant), headers=headers)
    again = client.post("/v1/calls/create", json=create_body(tenant), headers=headers)
    assert first.json()["id"] == again.json()["id"]
    other = client.post(
        "/v1/calls/create", json=create_body(tenant, to_number="+821099998888"), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
