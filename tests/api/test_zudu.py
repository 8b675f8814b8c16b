"""Zudu through the real app: seed 002 verbatim, every filter against a brute-force oracle, errors."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callplane.api.dialects.zudu import render
from callplane.domain.call import Call, CallType
from callplane.domain.search import flatten, matches
from callplane.store import listing
from callplane.store.db import Database
from tests.factories import Tenant, insert_calls, make_tenant, random_call
from tests.sdk.kit import T0

#: Seed 002's example request body, verbatim.
SEED_002: dict[str, Any] = {
    "page": 0,
    "limit": 50,
    "sort_by": "start_timestamp",
    "sort_order": "descending",
    "filter_criteria": {
        "call_status": ["ongoing", "ended", "registered"],
        "agent_id": ["agent-123", "agent-456"],
        "duration_ms": {"lower_threshold": 30000, "upper_threshold": 300000},
        "transcript_search": "help support",
    },
}
ITEM_KEYS = {
    "id",
    "call_id",
    "agent_id",
    "organization_id",
    "call_status",
    "call_type",
    "direction",
    "from_number",
    "to_number",
    "start_timestamp",
    "end_timestamp",
    "call_duration",
    "created_at",
}
PAGINATION_KEYS = {"page", "limit", "total_count", "total_pages", "has_next_page", "has_previous_page"}
PHRASES = [
    "help support please",
    "예약 변경 부탁드려요",
    "그 예약 취소할게요",
    "네 감사합니다",
    "HELP Support",
]


def headers(tenant: Tenant) -> dict[str, str]:
    return {"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret}


@pytest.fixture
def calls(db: Database, tenant: Tenant) -> list[Call]:
    rng = random.Random(2)
    other_agent = "3c90c3cc-0d44-4b50-8888-8dd25736052a"
    made = [
        random_call(
            rng,
            tenant.organization_id,
            [tenant.agent_id, other_agent],
            start_at=None if rng.random() < 0.15 else T0 + rng.randint(0, 50) * 1000,
            phrases=PHRASES,
        )
        for _ in range(70)
    ]
    insert_calls(db, made)
    return made


def post(client: TestClient, tenant: Tenant, body: Any) -> dict[str, Any]:
    response = client.post("/api/calls", json=body, headers=headers(tenant))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def test_seed_example_verbatim(client: TestClient, tenant: Tenant, calls: list[Call]) -> None:
    body = post(client, tenant, SEED_002)
    assert set(body) == {"message", "status", "error", "data"}
    assert body["message"] == "Calls retrieved successfully"
    assert body["status"] == "success" and body["error"] is None
    data = body["data"]
    assert set(data) == {
        "organization_id",
        "calls",
        "pagination",
        "returned_count",
        "sort_order",
        "sort_by",
        "applied_filters",
    }
    assert data["organization_id"] == tenant.organization_id
    # The seed's agent ids are not callplane agents: no call matches, and the page says so.
    assert data["calls"] == [] and data["returned_count"] == 0
    assert set(data["pagination"]) >= PAGINATION_KEYS
    assert data["pagination"]["page"] == 0 and data["pagination"]["limit"] == 50
    assert data["pagination"]["total_count"] == 0 and data["pagination"]["total_pages"] == 0
    assert data["sort_order"] == "descending" and data["sort_by"] == "start_timestamp"
    assert data["applied_filters"]["duration_ms"] == {"lower_threshold": 30000, "upper_threshold": 300000}
    assert data["applied_filters"]["transcript_search"] == "help support"
    assert data["applied_filters"]["call_status"] == ["ongoing", "ended", "registered"]


def test_seed_example_with_a_real_agent_finds_the_calls(
    client: TestClient, tenant: Tenant, calls: list[Call]
) -> None:
    body = {**SEED_002, "filter_criteria": {**SEED_002["filter_criteria"], "agent_id": [tenant.agent_id]}}
    data = post(client, tenant, body)["data"]
    expected = [
        c
        for c in calls
        if render.STATUS[c.status] in ("ONGOING", "ENDED", "REGISTERED")
        and c.agent.agent_id == tenant.agent_id
        and c.duration_ms is not None
        and 30000 <= c.duration_ms <= 300000
        and matches("help support", flatten(c.transcript))
    ]
    assert expected, "the fixture should hold matching calls"
    assert {c["id"] for c in data["calls"]} == {c.id for c in expected}
    assert data["pagination"]["total_count"] == len(expected)
    for item in data["calls"]:
        assert set(item) == ITEM_KEYS
        assert item["call_status"] in ("ONGOING", "ENDED", "REGISTERED")
        assert item["from_number"].startswith("+82")
    starts = [c["start_timestamp"] or 0 for c in data["calls"]]
    assert starts == sorted(starts, reverse=True)


def _expected(calls: list[Call], f: dict[str, Any]) -> set[str]:
    out = set()
    for c in calls:
        if "call_status" in f and render.STATUS[c.status].lower() not in [
            s.lower() for s in f["call_status"]
        ]:
            continue
        agents = f.get("agent_id")
        if agents is not None and c.agent.agent_id not in ([agents] if isinstance(agents, str) else agents):
            continue
        kind = "WEB_CALL" if c.call_type is CallType.WEB else "PHONE_CALL"
        if "call_type" in f and kind not in [t.upper() for t in f["call_type"]]:
            continue
        if "direction" in f and c.direction.value.upper() not in [d.upper() for d in f["direction"]]:
            continue
        if "duration_ms" in f:
            low = f["duration_ms"].get("lower_threshold")
            high = f["duration_ms"].get("upper_threshold")
            if c.duration_ms is None or (low is not None and c.duration_ms < low):
                continue
            if high is not None and c.duration_ms > high:
                continue
        if "transcript_search" in f and not matches(f["transcript_search"], flatten(c.transcript)):
            continue
        out.add(c.id)
    return out


def _random_filter(rng: random.Random, tenant: Tenant) -> dict[str, Any]:
    f: dict[str, Any] = {}
    if rng.random() < 0.5:
        f["call_status"] = [
            rng.choice([s, s.upper(), s.title()])
            for s in rng.sample(["ongoing", "ended", "registered", "error", "scheduled"], rng.randint(1, 3))
        ]
    if rng.random() < 0.4:
        f["agent_id"] = tenant.agent_id if rng.random() < 0.5 else [tenant.agent_id, "agent-123"]
    if rng.random() < 0.3:
        f["call_type"] = rng.sample(["PHONE_CALL", "WEB_CALL", "phone_call"], rng.randint(1, 2))
    if rng.random() < 0.2:
        f["direction"] = [rng.choice(["OUTBOUND", "inbound"])]
    if rng.random() < 0.5:
        bounds = rng.choice([(30000, 300000), (0, 1000), (95000, None), (None, 30000), (30000, 30000)])
        f["duration_ms"] = {
            k: v for k, v in zip(("lower_threshold", "upper_threshold"), bounds, strict=True) if v is not None
        }
    if rng.random() < 0.4:
        f["transcript_search"] = rng.choice(["help support", "취소", "예약 변경", "HELP", "없는말"])
    return f


def test_filters_against_a_brute_force_oracle(client: TestClient, tenant: Tenant, calls: list[Call]) -> None:
    rng = random.Random(7)
    for _ in range(40):
        f = _random_filter(rng, tenant)
        data = post(client, tenant, {"limit": 100, "filter_criteria": f})["data"]
        expected = _expected(calls, f)
        assert {c["id"] for c in data["calls"]} == expected, f
        assert data["pagination"]["total_count"] == len(expected), f
        assert set(data["applied_filters"]) == {k for k, v in f.items() if v}, f


@pytest.mark.parametrize(
    ("sort_by", "key"),
    [
        (
            "start_timestamp",
            lambda c: c["start_timestamp"] if c["start_timestamp"] is not None else c["created_at"],
        ),
        ("created_at", lambda c: c["created_at"]),
        ("call_id", lambda c: c["call_id"]),
    ],
)
@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_sorting_and_pages(
    client: TestClient, tenant: Tenant, calls: list[Call], sort_by: str, key: Any, order: str
) -> None:
    seen: list[dict[str, Any]] = []
    page = 0
    while True:
        data = post(client, tenant, {"page": page, "limit": 9, "sort_by": sort_by, "sort_order": order})[
            "data"
        ]
        pagination = data["pagination"]
        assert pagination["total_count"] == len(calls)
        assert pagination["total_pages"] == math.ceil(len(calls) / 9)
        assert pagination["has_previous_page"] is (page > 0)
        assert data["returned_count"] == len(data["calls"])
        seen.extend(data["calls"])
        if not pagination["has_next_page"]:
            break
        page += 1
    assert page == math.ceil(len(calls) / 9) - 1
    assert len({c["id"] for c in seen}) == len(calls)
    values = [(key(c), c["id"]) for c in seen]
    assert values == sorted(values, reverse=order == "descending")


def test_nullable_sorts_put_running_calls_last(client: TestClient, tenant: Tenant, calls: list[Call]) -> None:
    for sort_by, field in (("end_timestamp", "end_timestamp"), ("call_duration", "call_duration")):
        for order in ("ascending", "descending"):
            items = post(client, tenant, {"limit": 100, "sort_by": sort_by, "sort_order": order})["data"][
                "calls"
            ]
            values = [c[field] for c in items]
            known = [v for v in values if v is not None]
            assert values[: len(known)] == known
            assert known == sorted(known, reverse=order == "descending")


def test_korean_transcript_search(client: TestClient, tenant: Tenant, calls: list[Call]) -> None:
    for term in ("취소", "예약 변경"):
        data = post(client, tenant, {"limit": 100, "filter_criteria": {"transcript_search": term}})["data"]
        expected = {c.id for c in calls if matches(term, flatten(c.transcript))}
        assert expected and {c["id"] for c in data["calls"]} == expected


def test_get_with_query_parameters(client: TestClient, tenant: Tenant, calls: list[Call]) -> None:
    response = client.get(
        "/api/calls",
        params={"call_status": "ended,ONGOING", "agent_id": tenant.agent_id, "limit": 5},
        headers=headers(tenant),
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    expected = _expected(calls, {"call_status": ["ended", "ongoing"], "agent_id": tenant.agent_id})
    assert data["pagination"]["total_count"] == len(expected)
    assert data["pagination"]["limit"] == 5 and len(data["calls"]) == 5
    default = client.get("/api/calls", headers=headers(tenant)).json()["data"]
    assert default["pagination"]["page"] == 0 and default["pagination"]["limit"] == 20
    unknown = client.get("/api/calls", params={"status": "ended"}, headers=headers(tenant))
    assert unknown.status_code == 400
    assert unknown.json()["status"] == "error" and "status" in unknown.json()["error"]


def test_get_one_call(client: TestClient, tenant: Tenant, calls: list[Call]) -> None:
    call = next(c for c in calls if c.transcript)
    response = client.get(f"/api/calls/{call.id}", headers=headers(tenant))
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Call retrieved successfully" and body["status"] == "success"
    data = body["data"]
    assert set(data) >= ITEM_KEYS
    assert data["id"] == call.id and data["metadata"] == call.metadata
    assert data["transcript"] and data["transcript"].startswith(("Agent: ", "User: "))
    assert data["events"] == []
    assert data["disconnection_reason"] == render.REASON[call.disconnection_reason]  # type: ignore[index]


def test_not_found_is_the_documented_body(client: TestClient, tenant: Tenant) -> None:
    for call_id in ("call_abc123", "3c90c3cc-0d44-4b50-8888-8dd25736052a"):
        response = client.get(f"/api/calls/{call_id}", headers=headers(tenant))
        assert response.status_code == 404
        assert response.json() == {
            "message": "Call not found",
            "status": "error",
            "error": f"Call with ID '{call_id}' does not exist",
            "data": None,
        }


def test_another_organisations_call_is_not_found(client: TestClient, db: Database, calls: list[Call]) -> None:
    stranger = make_tenant(db, T0, name="other org")
    assert client.get(f"/api/calls/{calls[0].id}", headers=headers(stranger)).status_code == 404
    assert post(client, stranger, {})["data"]["pagination"]["total_count"] == 0


@pytest.mark.parametrize(
    "sent",
    [
        {},
        {"X-API-KEY": "cpk_nope_nope_nope_nope"},
        {"X-API-KEY": "cpk_nope_nope_nope_nope", "X-API-SECRET": "cps_nope_nope_nope_nope"},
        "bearer",
        "wrong secret",
    ],
)
def test_unauthorized_in_the_envelope(client: TestClient, tenant: Tenant, sent: Any) -> None:
    if sent == "bearer":
        sent = {"X-API-KEY": tenant.api_key, "X-API-SECRET": tenant.api_key}
    elif sent == "wrong secret":
        sent = {"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret + "x"}
    for response in (
        client.post("/api/calls", json={}, headers=sent),
        client.get("/api/calls", headers=sent),
    ):
        assert response.status_code == 401
        body = response.json()
        assert body["message"] == "Unauthorized" and body["status"] == "error" and body["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"page": -1}, "page"),
        ({"page": "0"}, "page"),
        ({"page": 1000, "limit": 100}, "page"),
        ({"sort_by": "colour"}, "sort_by"),
        ({"sort_order": "sideways"}, "sort_order"),
        ({"filter_criteria": {"call_status": ["finished"]}}, "filter_criteria.call_status[0]"),
        ({"filter_criteria": {"call_type": ["SMS"]}}, "filter_criteria.call_type[0]"),
        ({"filter_criteria": {"colour": ["red"]}}, "filter_criteria.colour"),
        (
            {"filter_criteria": {"duration_ms": {"lower_threshold": 5, "upper_threshold": 1}}},
            "filter_criteria.duration_ms",
        ),
        ({"filter_criteria": {"transcript_search": "x" * 501}}, "filter_criteria.transcript_search"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_envelope(client: TestClient, tenant: Tenant, body: Any, field: str) -> None:
    response = client.post("/api/calls", json=body, headers=headers(tenant))
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["message"] == "Validation error" and payload["status"] == "error"
    assert field in [e["field"] for e in payload["data"]["errors"]], payload


def test_create_phone_call(client: TestClient, tenant: Tenant) -> None:
    body = {
        "from_number": "+827011112222",
        "to_number": "+821012345678",
        "override_agent_id": tenant.agent_id,
        "metadata": {"customer_id": "cust-001", "campaign": "summer-2024"},
    }
    response = client.post(
        "/api/calls/create-phone-call", json=body, headers={**headers(tenant), "Idempotency-Key": "k1"}
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["message"] == "Phone call created and initiated successfully"
    data = created["data"]
    assert data["call_type"] == "phone_call" and data["status"] == "call_initiated"
    assert data["organization_id"] == tenant.organization_id
    assert data["call"]["call_status"] == "REGISTERED" and data["call"]["call_type"] == "PHONE_CALL"
    assert data["phone_call_info"] == {
        "from_number": "+827011112222",
        "to_number": "+821012345678",
        "direction": "outbound",
        "call_status": "registered",
    }
    again = client.post(
        "/api/calls/create-phone-call", json=body, headers={**headers(tenant), "Idempotency-Key": "k1"}
    )
    assert again.json()["data"]["call"]["id"] == data["call"]["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    fetched = client.get(f"/api/calls/{data['call']['id']}", headers=headers(tenant)).json()["data"]
    assert fetched["metadata"] == body["metadata"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to_number": "01012345678"}, "to_number"),
        ({"from_number": "+827099998888"}, "from_number"),
        ({"override_agent_id": "agent_1234567890"}, "override_agent_id"),
        ({"override_agent_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}, "override_agent_id"),
        ({"override_agent_id": None}, "override_agent_id"),
        ({"override_agent_version": "latest"}, "override_agent_version"),
        ({"metadata": ["x"]}, "metadata"),
    ],
)
def test_bad_create_is_a_400(client: TestClient, tenant: Tenant, change: dict[str, Any], field: str) -> None:
    body = {
        "from_number": "+827011112222",
        "to_number": "+821012345678",
        "override_agent_id": tenant.agent_id,
    }
    body.update(change)
    response = client.post("/api/calls/create-phone-call", json=body, headers=headers(tenant))
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["data"]["errors"]]


def test_a_search_past_its_cap_says_its_total_is_a_lower_bound(
    client: TestClient, tenant: Tenant, calls: list[Call], monkeypatch: pytest.MonkeyPatch
) -> None:
    exact = post(client, tenant, {})["data"]["pagination"]
    assert exact["total_is_estimated"] is False and exact["total_count"] == len(calls)
    matching = [c for c in calls if matches("예약", flatten(c.transcript))]
    assert len(matching) > 3
    monkeypatch.setattr(listing, "MAX_SEARCH_RESULTS", 3)
    body = {"limit": 2, "filter_criteria": {"transcript_search": "예약"}}
    first = post(client, tenant, body)["data"]
    assert first["pagination"]["total_is_estimated"] is True
    assert first["pagination"]["total_count"] == 3 and first["pagination"]["total_pages"] == 2
    last = post(client, tenant, {**body, "page": 1})["data"]
    assert len(last["calls"]) == 1 and last["pagination"]["has_next_page"] is False
