"""Retell through the real app: create rules, the CallFilter language, legacy lists, error bodies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from tests.factories import Tenant, insert_calls
from tests.sdk.kit import T0, Shape, insert_every_shape, make_call


def create_body(tenant: Tenant, **overrides: Any) -> dict[str, Any]:
    return {
        "from_number": "+827011112222",
        "to_number": "+821012345678",
        "override_agent_id": tenant.agent_id,
        **overrides,
    }


def v3(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    response = client.post("/v3/list-calls", json=body, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to_number": "01012345678"}, "to_number"),
        ({"to_number": "+1"}, "to_number"),
        ({"from_number": "+821099998888"}, "from_number"),
        ({"override_agent_id": "oBeDLoLOeuAbiuaMFXRtDOLriTJ5tSxD"}, "override_agent_id"),
        ({"override_agent_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}, "override_agent_id"),
        ({"override_agent_id": None}, "override_agent_id"),
        ({"override_agent_version": 0}, "override_agent_version"),
        ({"override_agent_version": 7}, "override_agent_version"),
        ({"override_agent_version": "latest_published"}, "override_agent_version"),
        ({"override_agent_version": True}, "override_agent_version"),
        ({"retell_llm_dynamic_variables": {"n": 1}}, "retell_llm_dynamic_variables.n"),
        ({"agent_override": {"voice_id": "x"}}, "agent_override"),
        ({"custom_sip_headers": {"X-A": "b"}}, "custom_sip_headers"),
        ({"agent_id": "x"}, "agent_id"),
        ({"idempotency_key": ""}, "idempotency_key"),
    ],
)
def test_bad_create_is_a_retell_400(
    client: TestClient, tenant: Tenant, overrides: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/v2/create-phone-call", json=create_body(tenant, **overrides), headers=tenant.headers
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "error" and field in body["message"]
    assert field in [e["field"] for e in body["errors"]]


def test_version_names(client: TestClient, tenant: Tenant, db: Database) -> None:
    for version in (1, "1", "latest", "v1", "current"):
        response = client.post(
            "/v2/create-phone-call",
            json=create_body(tenant, override_agent_version=version),
            headers=tenant.headers,
        )
        assert response.status_code == 201, (version, response.text)
        assert response.json()["agent_version"] == 1
    Admin(db, lambda: T0).publish(tenant.organization_id, tenant.agent_id, 1)
    published = client.post(
        "/v2/create-phone-call",
        json=create_body(tenant, override_agent_version="latest_published"),
        headers=tenant.headers,
    )
    assert published.status_code == 201 and published.json()["agent_version"] == 1


def test_malformed_and_unauthorized(client: TestClient, tenant: Tenant) -> None:
    for raw in (b"{", b"[]", b"null", b'"x"'):
        response = client.post(
            "/v2/create-phone-call",
            content=raw,
            headers={**tenant.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 400, raw
        assert response.json()["status"] == "error"
    response = client.post("/v3/list-calls", json={}, headers={"Authorization": "Bearer nope-nope-nope-nope"})
    assert response.status_code == 401
    assert response.json() == {"status": "error", "message": "API key is missing or invalid."}


def test_v3_filter_language(client: TestClient, tenant: Tenant, db: Database) -> None:
    made = insert_every_shape(db, tenant, metadata={"campaign": "spring", "wave": 2})
    ids = {s: c.id for s, c in made.items()}
    user_hangup = ids[Shape(CallStatus.ENDED, DisconnectionReason.USER_HANGUP)]

    def found(criteria: dict[str, Any]) -> set[str]:
        return {
            i["call_id"] for i in v3(client, tenant, {"filter_criteria": criteria, "limit": 1000})["items"]
        }

    everything = set(ids.values())
    assert found({}) == everything
    assert found({"call_id": {"type": "string", "op": "eq", "value": user_hangup}}) == {user_hangup}
    assert found({"call_id": {"type": "enum", "op": "in", "value": [user_hangup, "nope"]}}) == {user_hangup}
    assert found({"call_id": {"type": "enum", "op": "in", "value": ["nope"]}}) == set()
    assert found({"agent": [{"agent_id": tenant.agent_id}]}) == everything
    assert found({"agent": [{"agent_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a"}]}) == set()
    registered = found({"call_status": {"type": "enum", "op": "in", "value": ["registered"]}})
    assert registered == {
        ids[Shape(s, None)] for s in (CallStatus.QUEUED, CallStatus.DIALING, CallStatus.RINGING)
    }
    assert found({"call_type": {"type": "enum", "op": "in", "value": ["web_call"]}}) == set()
    assert found({"direction": {"type": "enum", "op": "in", "value": ["outbound"]}}) == everything
    assert found({"user_sentiment": {"type": "enum", "op": "in", "value": ["Positive"]}}) == {
        c.id for s, c in made.items() if s.answered and s.status.is_terminal
    }
    # Durations are 62 000 (answered) or 30 000 ms; bounds are inclusive, gt/lt exclusive.
    answered_done = {c.id for s, c in made.items() if s.answered and s.status.is_terminal}
    assert found({"duration_ms": {"type": "number", "op": "ge", "value": 62000}}) == answered_done
    assert found({"duration_ms": {"type": "number", "op": "gt", "value": 62000}}) == set()
    assert found({"duration_ms": {"type": "number", "op": "eq", "value": 62000.5}}) == set()
    assert found({"duration_ms": {"type": "range", "op": "bt", "value": [30000, 30000]}}) == {
        c.id for c in made.values() if c.duration_ms == 30000
    }
    start = made[Shape(CallStatus.ENDED, DisconnectionReason.USER_HANGUP)].start_at
    assert found({"start_timestamp": {"type": "number", "op": "eq", "value": start}}) == {user_hangup}
    assert found({"from_number": {"type": "string", "op": "eq", "value": "+827011112222"}}) == everything
    assert found({"metadata": [{"key": "wave", "type": "number", "op": "eq", "value": 2.0}]}) == everything
    assert found({"metadata": [{"key": "campaign", "type": "string", "op": "eq", "value": "fall"}]}) == set()
    assert found({"transcript": {"type": "string", "op": "co", "value": "예약 변경"}}) == answered_done | {
        ids[Shape(CallStatus.ONGOING, None)]
    }


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        ({"in_voicemail": {"type": "boolean", "op": "eq", "value": True}}, "filter_criteria.in_voicemail"),
        ({"combined_cost": {"type": "number", "op": "gt", "value": 1}}, "filter_criteria.combined_cost"),
        ({"tool_calls": [{"name": "x"}]}, "filter_criteria.tool_calls"),
        ({"colour": {}}, "filter_criteria.colour"),
        ({"agent": [{"agent_id": "a", "version": [1]}]}, "filter_criteria.agent[0].version"),
        ({"from_number": {"type": "string", "op": "sw", "value": "+82"}}, "filter_criteria.from_number.op"),
        ({"duration_ms": {"type": "number", "op": "ne", "value": 1}}, "filter_criteria.duration_ms.op"),
        ({"duration_ms": {"type": "range", "op": "bt", "value": [5, 1]}}, "filter_criteria.duration_ms"),
        ({"duration_ms": {"type": "range", "op": "bt", "value": [1]}}, "filter_criteria.duration_ms.value"),
        (
            {"call_status": {"type": "enum", "op": "in", "value": ["finished"]}},
            "filter_criteria.call_status.value[0]",
        ),
        ({"call_status": ["ended"]}, "filter_criteria.call_status"),
        (
            {"metadata": [{"key": "a", "type": "string", "op": "co", "value": "x"}]},
            "filter_criteria.metadata[0].op",
        ),
    ],
)
def test_unsupported_filters_are_a_400_naming_them(
    client: TestClient, tenant: Tenant, criteria: dict[str, Any], field: str
) -> None:
    response = client.post("/v3/list-calls", json={"filter_criteria": criteria}, headers=tenant.headers)
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_v3_paging_rules(client: TestClient, tenant: Tenant, db: Database) -> None:
    made = insert_every_shape(db, tenant)
    both = client.post("/v3/list-calls", json={"skip": 1, "pagination_key": "x"}, headers=tenant.headers)
    assert both.status_code == 400
    past = client.post("/v3/list-calls", json={"skip": 10**9}, headers=tenant.headers)
    assert past.status_code == 400 and "skip" in past.json()["message"]
    first = v3(client, tenant, {"limit": 4, "sort_order": "ascending"})
    skipped = v3(client, tenant, {"limit": 4, "skip": 4, "sort_order": "ascending"})
    following = v3(
        client, tenant, {"limit": 4, "pagination_key": first["pagination_key"], "sort_order": "ascending"}
    )
    assert [i["call_id"] for i in skipped["items"]] == [i["call_id"] for i in following["items"]]
    assert "total" not in first
    counted = v3(client, tenant, {"include_total": True})
    assert counted["total"] == len(made) and counted["total_is_estimated"] is False
    foreign = client.post(
        "/v3/list-calls",
        json={"pagination_key": first["pagination_key"], "sort_order": "descending"},
        headers=tenant.headers,
    )
    assert foreign.status_code == 400


def test_legacy_list_is_a_bare_array_paged_by_call_id(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    made = insert_every_shape(db, tenant)
    seen: list[str] = []
    key = None
    while True:
        body: dict[str, Any] = {"limit": 6, "sort_order": "ascending"}
        if key:
            body["pagination_key"] = key
        response = client.post("/v2/list-calls", json=body, headers=tenant.headers)
        assert response.status_code == 200
        page = response.json()
        assert isinstance(page, list)
        if not page:
            break
        seen.extend(c["call_id"] for c in page)
        key = page[-1]["call_id"]
        assert "transcript" in page[0]
    assert seen == [c.id for c in sorted(made.values(), key=lambda c: (c.start_at or c.created_at, c.id))]
    filtered = client.post(
        "/v2/list-calls",
        json={"filter_criteria": {"call_status": ["error"], "disconnection_reason": ["budget_reached"]}},
        headers=tenant.headers,
    ).json()
    assert {c["call_id"] for c in filtered} == {
        c.id
        for s, c in made.items()
        if s.reason
        in (DisconnectionReason.DAILY_CALL_LIMIT_REACHED, DisconnectionReason.HOURLY_CALL_LIMIT_REACHED)
    }
    unsupported = client.post(
        "/v2/list-calls", json={"filter_criteria": {"in_voicemail": [True]}}, headers=tenant.headers
    )
    assert unsupported.status_code == 400
    unknown_key = client.post("/v2/list-calls", json={"pagination_key": "nope"}, headers=tenant.headers)
    assert unknown_key.status_code == 400


def test_stop_and_get(client: TestClient, tenant: Tenant, db: Database) -> None:
    ongoing = make_call(tenant, Shape(CallStatus.ONGOING, None))
    insert_calls(db, [ongoing])
    response = client.post(f"/v2/stop-call/{ongoing.id}", headers=tenant.headers)
    assert response.status_code == 204 and response.content == b""
    # A live call is ended by its worker; until then it is still ongoing.
    assert client.get(f"/v2/get-call/{ongoing.id}", headers=tenant.headers).json()["call_status"] == "ongoing"
    missing = client.post("/v2/stop-call/nope", headers=tenant.headers)
    assert missing.status_code == 422


def test_only_twilio_call_sids_are_labelled_as_such(client: TestClient, tenant: Tenant, db: Database) -> None:
    ended = Shape(CallStatus.ENDED, DisconnectionReason.USER_HANGUP)
    simulated = replace(make_call(tenant, ended), telephony_id="sim-0193-1")
    twilio = replace(make_call(tenant, ended), telephony_id="CA" + "0123456789abcdef" * 2)
    insert_calls(db, [simulated, twilio])
    assert (
        "telephony_identifier"
        not in client.get(f"/v2/get-call/{simulated.id}", headers=tenant.headers).json()
    )
    assert client.get(f"/v2/get-call/{twilio.id}", headers=tenant.headers).json()["telephony_identifier"] == {
        "twilio_call_sid": twilio.telephony_id
    }
    # Vocode's and Zudu's fields are not Twilio's: they carry the line's id as it is.
    assert (
        client.get("/v1/calls", params={"id": simulated.id}, headers=tenant.headers).json()["telephony_id"]
        == "sim-0193-1"
    )
