"""One call, five dialects: created through any, seen the same through all, as documented.

`docs/dialects.md` holds the status and reason table; these tests read it and check every cell
against what each dialect's real endpoint answers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.phone import parse_any
from callplane.store import calls as call_store
from callplane.store.db import Database
from tests.factories import Tenant, call_body, insert_calls
from tests.sdk.kit import REASON_STATUS, TRANSCRIPT, Shape, make_call

DOC = Path(__file__).resolve().parents[2] / "docs" / "dialects.md"
DIALECTS = ("Vox v3", "Vox v2", "Zudu", "Vocode", "Retell")


def zudu_headers(tenant: Tenant) -> dict[str, str]:
    return {"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret}


def fetch(client: TestClient, tenant: Tenant, call_id: str) -> dict[str, dict[str, Any]]:
    """The call as each dialect's get endpoint answers it."""
    answers = {
        "Vox v3": client.get(f"/v3/calls/{call_id}", headers=tenant.headers),
        "Vox v2": client.get(f"/v2/calls/{call_id}", headers=tenant.headers),
        "Zudu": client.get(f"/api/calls/{call_id}", headers=zudu_headers(tenant)),
        "Vocode": client.get("/v1/calls", params={"id": call_id}, headers=tenant.headers),
        "Retell": client.get(f"/v2/get-call/{call_id}", headers=tenant.headers),
    }
    out = {}
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        out[name] = body["data"] if name == "Zudu" else body
    return out


STATUS_FIELD = {
    "Vox v3": "status",
    "Vox v2": "status",
    "Zudu": "call_status",
    "Vocode": "status",
    "Retell": "call_status",
}
REASON_FIELD = {
    "Vox v3": "disconnection_reason",
    "Vox v2": "disconnection_reason",
    "Zudu": "disconnection_reason",
    "Vocode": "stage_outcome",
    "Retell": "disconnection_reason",
}


def documented_table() -> tuple[dict[str, dict[str, str | None]], dict[str, dict[str, str | None]]]:
    """The table's rows: {internal value: {dialect: first value in the cell}}, statuses and reasons."""
    statuses: dict[str, dict[str, str | None]] = {}
    reasons: dict[str, dict[str, str | None]] = {}
    section = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not line.startswith("|"):
            continue
        if cells[0] == "**status**":
            section = statuses
            continue
        if cells[0] == "**disconnection reason**":
            section = reasons
            continue
        first = re.match(r"`([^`]+)`", cells[0])
        if section is None or first is None:
            continue
        row = {}
        for name, cell in zip(DIALECTS, cells[1:], strict=True):
            value = re.match(r"`([^`]+)`", cell)
            assert value is not None, (line, name)
            row[name] = None if value.group(1) == "null" else value.group(1)
        section[first.group(1)] = row
    return statuses, reasons


def test_the_table_covers_every_status_and_reason() -> None:
    statuses, reasons = documented_table()
    assert set(statuses) == {s.value for s in CallStatus}
    assert set(reasons) == {r.value for r in DisconnectionReason}


def test_every_status_renders_as_documented(client: TestClient, tenant: Tenant, db: Database) -> None:
    statuses, _ = documented_table()
    reason_for = {status: reason for reason, status in REASON_STATUS.items()}
    for status in CallStatus:
        call = make_call(tenant, Shape(status, reason_for.get(status) if status.is_terminal else None))
        insert_calls(db, [call])
        seen = fetch(client, tenant, call.id)
        for name in DIALECTS:
            assert seen[name][STATUS_FIELD[name]] == statuses[status.value][name], (status, name)


def test_every_reason_renders_as_documented(client: TestClient, tenant: Tenant, db: Database) -> None:
    _, reasons = documented_table()
    for reason, status in REASON_STATUS.items():
        call = make_call(tenant, Shape(status, reason))
        insert_calls(db, [call])
        seen = fetch(client, tenant, call.id)
        for name in DIALECTS:
            assert seen[name][REASON_FIELD[name]] == reasons[reason.value][name], (reason, name)
        assert seen["Vocode"]["disconnection_reason"] == reason.value


def create_everywhere(client: TestClient, tenant: Tenant) -> dict[str, str]:
    """One call through each dialect that can create one; returns {dialect: call id}."""
    made = {}
    vox = client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers)
    assert vox.status_code == 201, vox.text
    made["Vox v3"] = vox.json()["id"]
    zudu = client.post(
        "/api/calls/create-phone-call",
        json={
            "from_number": "+827011112222",
            "to_number": "+821012345678",
            "override_agent_id": tenant.agent_id,
            "metadata": {"crm_lead_id": "lead_zudu"},
        },
        headers=zudu_headers(tenant),
    )
    assert zudu.status_code == 200, zudu.text
    made["Zudu"] = zudu.json()["data"]["call"]["id"]
    vocode = client.post(
        "/v1/calls/create",
        json={
            "from_number": "07011112222",
            "to_number": "+821012345678",
            "agent": tenant.agent_id,
            "context": {"customer_name": "홍길동"},
        },
        headers=tenant.headers,
    )
    assert vocode.status_code == 200, vocode.text
    made["Vocode"] = vocode.json()["id"]
    retell = client.post(
        "/v2/create-phone-call",
        json={
            "from_number": "+827011112222",
            "to_number": "+821012345678",
            "override_agent_id": tenant.agent_id,
            "retell_llm_dynamic_variables": {"customer_name": "홍길동"},
            "metadata": {"crm_lead_id": "lead_retell"},
        },
        headers=tenant.headers,
    )
    assert retell.status_code == 201, retell.text
    made["Retell"] = retell.json()["call_id"]
    return made


def identity(name: str, body: dict[str, Any]) -> tuple[str, str, str, str]:
    """(call id, agent id, from, to) as E.164, however the dialect spells them."""
    if name == "Vox v3":
        return body["id"], body["agent"]["agent_id"], body["from_number"], body["to_number"]
    if name == "Vox v2":
        return body["call_id"], body["agent_id"], body["call_from"], body["call_to"]
    if name == "Zudu":
        assert body["id"] == body["call_id"]
        return body["id"], body["agent_id"], body["from_number"], body["to_number"]
    if name == "Vocode":
        agent = body["agent"] if isinstance(body["agent"], str) else body["agent"]["id"]
        return body["id"], agent, body["from_number"], body["to_number"]
    return body["call_id"], body["agent_id"], body["from_number"], body["to_number"]


def normalized(name: str, body: dict[str, Any]) -> tuple[str, str, str, str]:
    call_id, agent, from_number, to_number = identity(name, body)
    return call_id, agent, parse_any(from_number, "from"), parse_any(to_number, "to")


def listed(client: TestClient, tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """Every call, as each dialect's list endpoint answers it."""
    zudu = client.post("/api/calls", json={"limit": 100}, headers=zudu_headers(tenant)).json()["data"]
    return {
        "Vox v3": client.get("/v3/calls", headers=tenant.headers).json()["items"],
        "Vox v2": client.post("/v2/calls/list", json={}, headers=tenant.headers).json()["calls"],
        "Zudu": zudu["calls"],
        "Vocode": client.get("/v1/calls/list", params={"size": 100}, headers=tenant.headers).json()["items"],
        "Retell": client.post("/v3/list-calls", json={}, headers=tenant.headers).json()["items"],
    }


def test_created_anywhere_is_the_same_call_everywhere(client: TestClient, tenant: Tenant) -> None:
    made = create_everywhere(client, tenant)
    assert len(set(made.values())) == 4
    statuses, _ = documented_table()
    for origin, call_id in made.items():
        seen = fetch(client, tenant, call_id)
        views = {normalized(name, body) for name, body in seen.items()}
        assert views == {(call_id, tenant.agent_id, "+827011112222", "+821012345678")}, origin
        for name in DIALECTS:
            assert seen[name][STATUS_FIELD[name]] == statuses["queued"][name], (origin, name)
    lists = listed(client, tenant)
    for name, items in lists.items():
        assert {identity(name, item)[0] for item in items} == set(made.values()), name
    # What each create said is what the others read back.
    retell_call = fetch(client, tenant, made["Retell"])
    assert retell_call["Vox v3"]["dynamic_variables"] == {"customer_name": "홍길동"}
    assert retell_call["Vox v3"]["metadata"] == {"crm_lead_id": "lead_retell"}
    assert retell_call["Zudu"]["metadata"] == {"crm_lead_id": "lead_retell"}
    assert fetch(client, tenant, made["Vocode"])["Retell"]["retell_llm_dynamic_variables"] == {
        "customer_name": "홍길동"
    }
    vox_call = fetch(client, tenant, made["Vox v3"])
    assert vox_call["Vocode"]["context"]["customer_name"] == "홍길동"
    assert vox_call["Zudu"]["metadata"] == {"crm_lead_id": "lead_a1b2c3"}


def test_a_call_moving_on_is_seen_moving_everywhere(client: TestClient, tenant: Tenant, db: Database) -> None:
    made = create_everywhere(client, tenant)
    call_id = made["Zudu"]
    t = 1_767_225_600_000
    with db.write() as conn:
        org = tenant.organization_id
        assert call_store.move(conn, org, call_id, CallStatus.DIALING, t, start_at=t)
        assert call_store.move(conn, org, call_id, CallStatus.ONGOING, t + 2000, answered_at=t + 2000)
        assert call_store.move(
            conn,
            org,
            call_id,
            CallStatus.ENDED,
            t + 62_000,
            end_at=t + 62_000,
            duration_ms=62_000,
            disconnection_reason=DisconnectionReason.USER_HANGUP.value,
            transcript=TRANSCRIPT,
        )
    seen = fetch(client, tenant, call_id)
    assert (
        seen["Vox v3"]["start_at"]
        == seen["Zudu"]["start_timestamp"]
        == seen["Retell"]["start_timestamp"]
        == t
    )
    assert (
        seen["Vox v2"]["duration_ms"]
        == seen["Zudu"]["call_duration"]
        == seen["Retell"]["duration_ms"]
        == 62_000
    )
    assert seen["Vocode"]["start_time"] == "2026-01-01T00:00:00.000+00:00"
    assert seen["Vocode"]["end_time"] == "2026-01-01T00:01:02.000+00:00"
    assert [seen[n][STATUS_FIELD[n]] for n in DIALECTS] == ["ended", "ended", "ENDED", "ended", "ended"]
    assert [seen[n][REASON_FIELD[n]] for n in DIALECTS] == [
        "user_hangup",
        "user_hangup",
        "USER_HANGUP",
        "human_disconnected",
        "user_hangup",
    ]
    said = "예약 변경 하고 싶어요. help support please"
    assert said in seen["Retell"]["transcript"] and said in seen["Zudu"]["transcript"]
    assert f"HUMAN: {said}" in seen["Vocode"]["transcript"]
    assert any(e.get("content") == said for e in seen["Vox v3"]["transcript"])
    # The list endpoints agree with the get endpoints.
    for name, items in listed(client, tenant).items():
        item = next(i for i in items if identity(name, i)[0] == call_id)
        assert item[STATUS_FIELD[name]] == seen[name][STATUS_FIELD[name]], name


@pytest.mark.parametrize("term", ["예약 변경", "help support"])
def test_transcript_search_agrees_across_dialects(
    client: TestClient, tenant: Tenant, db: Database, term: str
) -> None:
    hit = make_call(tenant, Shape(CallStatus.ENDED, DisconnectionReason.USER_HANGUP))
    miss = make_call(
        tenant, Shape(CallStatus.NOT_CONNECTED, DisconnectionReason.DIAL_BUSY), start_at=hit.start_at + 1
    )  # type: ignore[operator]
    insert_calls(db, [hit, miss])
    vox = client.get("/v3/calls", params={"search": term}, headers=tenant.headers).json()["items"]
    zudu = client.post(
        "/api/calls", json={"filter_criteria": {"transcript_search": term}}, headers=zudu_headers(tenant)
    ).json()["data"]["calls"]
    retell = client.post(
        "/v3/list-calls",
        json={"filter_criteria": {"transcript": {"type": "string", "op": "co", "value": term}}},
        headers=tenant.headers,
    ).json()["items"]
    assert [c["id"] for c in vox] == [c["id"] for c in zudu] == [c["call_id"] for c in retell] == [hit.id]
