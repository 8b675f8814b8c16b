"""Bounded work per request, through the real app on both databases: every dialect's list
refuses filters past their caps, bodies past `CALLPLANE_MAX_BODY_BYTES` are a 413, numbers no
database or date can hold are a 400, and cursors are signed. Never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain import bounds
from callplane.domain.errors import ValidationFailed
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from tests.factories import FLOW_AGENT, Tenant, insert_calls, random_call

TOO_MANY = bounds.MAX_FILTER_VALUES + 1
UUIDS = [f"00000000-0000-4000-8000-{i:012d}" for i in range(TOO_MANY)]
PHONES_KR = [f"010{10_000_000 + i}" for i in range(TOO_MANY)]
PHONES_E164 = [f"+8210{10_000_000 + i}" for i in range(TOO_MANY)]
LONG_SEARCH = "가" * (bounds.MAX_SEARCH_CHARS + 1)
META_KEYS = {f"k{i}": "v" for i in range(bounds.MAX_METADATA_FILTERS + 1)}
BIG = [10**30, -(10**30), 2**63 - 1, -(2**63), 2**63]


def key_secret(tenant: Tenant) -> dict[str, str]:
    return {"X-API-KEY": tenant.key_id, "X-API-SECRET": tenant.key_secret}


def refused(response: Any, status: int = 400, mentioning: str = "") -> None:
    assert response.status_code == status, response.text
    assert mentioning in response.text


def test_vox_list_filters_are_capped(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    for criteria in (
        {"agent_id": UUIDS},
        {"call_from": PHONES_KR},
        {"call_to": PHONES_KR},
        {"call_status": ["ended"] * TOO_MANY},
        {"metadata": META_KEYS},
        {"metadata": {"k" * (bounds.MAX_METADATA_FILTER_CHARS + 1): "v"}},
        {"transcript_search": LONG_SEARCH},
    ):
        response = client.post("/v2/calls/list", json={"filter_criteria": criteria}, headers=h)
        refused(response, mentioning="filter_criteria.")
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    params = "&".join(f"metadata.{k}={v}" for k, v in META_KEYS.items())
    refused(client.get(f"/v3/calls?{params}", headers=h), mentioning="metadata")
    refused(client.get("/v3/calls", params={"search": LONG_SEARCH}, headers=h), mentioning="search")
    refused(
        client.get("/v3/calls", params={"transcript_search": LONG_SEARCH}, headers=h),
        mentioning="transcript_search",
    )
    # At the caps, the same requests are answered.
    at_cap = {"agent_id": UUIDS[:-1], "metadata": dict(list(META_KEYS.items())[:-1])}
    assert client.post("/v2/calls/list", json={"filter_criteria": at_cap}, headers=h).status_code == 200
    search = client.get("/v3/calls", params={"search": LONG_SEARCH[:-1]}, headers=h)
    assert search.status_code == 200, search.text


def test_zudu_list_filters_are_capped(client: TestClient, tenant: Tenant) -> None:
    h = key_secret(tenant)
    for criteria in (
        {"agent_id": UUIDS},
        {"call_status": ["ENDED"] * TOO_MANY},
        {"transcript_search": LONG_SEARCH},
    ):
        response = client.post("/api/calls", json={"filter_criteria": criteria}, headers=h)
        refused(response, mentioning="filter_criteria.")
        assert response.json()["status"] == "error"
    comma = client.get("/api/calls", params={"agent_id": ",".join(UUIDS)}, headers=h)
    refused(comma, mentioning="agent_id")


def test_retell_list_filters_are_capped(client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    for criteria in (
        {"call_id": {"type": "enum", "op": "in", "value": UUIDS}},
        {"call_status": {"type": "enum", "op": "in", "value": ["ended"] * TOO_MANY}},
        {"agent": [{"agent_id": a} for a in UUIDS]},
        {"metadata": [{"key": k, "type": "string", "op": "eq", "value": v} for k, v in META_KEYS.items()]},
        {"transcript": {"type": "string", "op": "co", "value": LONG_SEARCH}},
    ):
        response = client.post("/v3/list-calls", json={"filter_criteria": criteria}, headers=h)
        refused(response, mentioning="filter_criteria.")
        assert response.json()["status"] == "error"
    for legacy in ({"agent_id": UUIDS}, {"to_number": PHONES_E164}):
        refused(client.post("/v2/list-calls", json={"filter_criteria": legacy}, headers=h))


def test_the_cli_and_every_entry_point_share_the_caps_of_a_query(db: Database) -> None:
    from callplane.domain.query import CallQuery

    with pytest.raises(ValidationFailed, match="agent_ids"):
        CallQuery(organization_id="o", agent_ids=tuple(UUIDS))
    with pytest.raises(ValidationFailed, match="search"):
        CallQuery(organization_id="o", search=LONG_SEARCH)
    admin = Admin(db, SystemClock().now_ms)
    with pytest.raises(ValidationFailed, match="name"):
        admin.create_organization("x" * (bounds.MAX_NAME_CHARS + 1))


@pytest.fixture
def small_body_client(db: Database) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db.url, max_body_bytes=64 * 1024), db=db)
    with TestClient(app) as test_client:
        yield test_client


def test_a_body_past_the_cap_is_a_413_in_each_dialects_shape(
    small_body_client: TestClient, tenant: Tenant
) -> None:
    client = small_body_client
    padding = {"filter_criteria": {"transcript_search": "x"}, "pad": "x" * 70_000}
    vox = client.post("/v2/calls/list", json=padding, headers=tenant.headers)
    refused(vox, 413)
    assert vox.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    zudu = client.post("/api/calls", json=padding, headers=key_secret(tenant))
    refused(zudu, 413)
    assert zudu.json()["status"] == "error"
    retell = client.post("/v3/list-calls", json=padding, headers=tenant.headers)
    refused(retell, 413)
    assert retell.json()["status"] == "error"
    vocode = client.post("/v1/calls/create", json=padding, headers=tenant.headers)
    refused(vocode, 413)
    assert isinstance(vocode.json()["detail"], str)
    # The admin API (the 10 MB agent description) and a chunked body, which declares no length.
    agent = {**FLOW_AGENT, "description": "x" * 70_000}
    refused(client.post("/admin/v1/agents", json=agent, headers=tenant.headers), 413)

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    chunked = client.patch(
        "/admin/v1/organization",
        content=chunks(),
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    refused(chunked, 413)


TOKEN = "op_" + "b" * 40
OPERATOR = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def operator_client(db: Database) -> Iterator[TestClient]:
    """The app with the operator API on: billing and number ownership are the operator's."""
    with TestClient(create_app(Settings(database_url=db.url, operator_token=TOKEN), db=db)) as test_client:
        yield test_client


def test_stored_text_is_capped(client: TestClient, operator_client: TestClient, tenant: Tenant) -> None:
    h = tenant.headers
    long_name = "x" * (bounds.MAX_NAME_CHARS + 1)
    refused(client.patch("/admin/v1/organization", json={"name": long_name}, headers=h), mentioning="name")
    refused(client.post("/admin/v1/keys", json={"name": long_name}, headers=h), mentioning="name")
    refused(client.post("/admin/v1/agents", json={**FLOW_AGENT, "name": long_name}, headers=h))
    description = "x" * (bounds.MAX_DESCRIPTION_CHARS + 1)
    refused(
        client.post("/admin/v1/agents", json={**FLOW_AGENT, "description": description}, headers=h),
        mentioning="description",
    )
    numbers = f"/operator/v1/organizations/{tenant.organization_id}/numbers"
    refused(
        operator_client.post(numbers, json={"number": "07055556666", "label": long_name}, headers=OPERATOR)
    )
    refused(operator_client.post("/operator/v1/organizations", json={"name": long_name}, headers=OPERATOR))
    refused(
        client.post("/admin/v1/suppressions", json={"number": "01055556666", "reason": long_name}, headers=h)
    )
    # The largest allowed name is stored (on PostgreSQL too).
    at_cap = client.patch("/admin/v1/organization", json={"name": "가" * bounds.MAX_NAME_CHARS}, headers=h)
    assert at_cap.status_code == 200, at_cap.text


def test_times_past_what_a_database_or_a_date_holds_are_a_400_or_no_match(
    client: TestClient, tenant: Tenant
) -> None:
    h = tenant.headers
    for value in BIG:
        for name in ("start_at_after", "start_at_before"):
            refused(client.get("/v3/calls", params={name: str(value)}, headers=h), mentioning=name)
    refused(client.get("/v3/calls", params={"limit": str(10**30)}, headers=h), mentioning="limit")
    # JSON bounds past any time match no call; within 64 bits they are no error either.
    for value in (2**63 - 1, -(2**63), 10**15):
        for name in ("start_timestamp", "duration"):
            body = {"filter_criteria": {name: {"lower_threshold": value}}}
            v2 = client.post("/v2/calls/list", json=body, headers=h)
            assert v2.status_code == 200 and v2.json()["calls"] == [], v2.text
        legacy = {"filter_criteria": {"start_timestamp": {"upper_threshold": value}}}
        assert client.post("/v2/list-calls", json=legacy, headers=h).status_code == 200
        zudu = {"filter_criteria": {"duration_ms": {"lower_threshold": value}}}
        assert client.post("/api/calls", json=zudu, headers=key_secret(tenant)).status_code == 200
    for value in (1e300, -1e300, 2**63 - 1):
        retell = {"filter_criteria": {"start_timestamp": {"type": "number", "op": "gt", "value": value}}}
        assert client.post("/v3/list-calls", json=retell, headers=h).status_code == 200
    for too_big in (10**30, 2**64):
        raw = json.dumps({"filter_criteria": {"start_timestamp": {"lower_threshold": too_big}}})
        refused(client.post("/v2/calls/list", content=raw, headers={**h, "Content-Type": "application/json"}))
    refused(client.get("/api/calls", params={"page": str(10**30)}, headers=key_secret(tenant)))
    refused(client.get("/v1/calls/list", params={"page": str(10**30)}, headers=h), 422)


def test_money_no_column_can_hold_is_a_400(operator_client: TestClient, tenant: Tenant) -> None:
    c, org = operator_client, f"/operator/v1/organizations/{tenant.organization_id}"
    for value in ("1e400", "-1e400", "NaN", "Infinity", "1E+999999999", "1" + "0" * 30, 1e300):
        for name in ("balance", "rate_per_minute"):
            refused(c.patch(org, json={name: value}, headers=OPERATOR), mentioning=name)
    raw = '{"balance": 1e400}'  # a JSON number past a double: Python reads it as infinity
    refused(c.patch(org, content=raw, headers={**OPERATOR, "Content-Type": "application/json"}))
    agent = {**FLOW_AGENT, "pricing": {"rate_per_minute": "1e400"}}
    refused(c.post("/admin/v1/agents", json=agent, headers=tenant.headers), mentioning="rate_per_minute")
    ok = c.patch(org, json={"balance": str(bounds.MAX_KRW)}, headers=OPERATOR)
    assert ok.status_code == 200, ok.text


def _pages(db: Database, tenant: Tenant) -> None:
    import random

    rng = random.Random(7)
    insert_calls(
        db,
        [
            random_call(rng, tenant.organization_id, [tenant.agent_id], start_at=1_767_225_600_000 + i)
            for i in range(5)
        ],
    )


def test_cursors_are_signed_and_a_forged_one_is_a_400(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    import base64

    _pages(db, tenant)
    h = tenant.headers
    first = client.get("/v3/calls", params={"limit": "2"}, headers=h).json()
    token = first["next_cursor"]
    second = client.get("/v3/calls", params={"limit": "2", "cursor": token}, headers=h)
    assert second.status_code == 200 and second.json()["items"], second.text
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    for value in (2**64, 2**63 - 1, 10**30):
        forged = base64.urlsafe_b64encode(json.dumps({**payload, "v": value}).encode()).decode().rstrip("=")
        for candidate in (forged, f"{forged}.{token.split('.')[1]}"):
            v3 = client.get("/v3/calls", params={"limit": "2", "cursor": candidate}, headers=h)
            refused(v3, mentioning="cursor")
            v2 = client.post("/v2/calls/list", json={"limit": 2, "pagination_key": candidate}, headers=h)
            refused(v2, mentioning="pagination_key")
            retell = client.post("/v3/list-calls", json={"limit": 2, "pagination_key": candidate}, headers=h)
            refused(retell, mentioning="pagination_key")


def test_every_process_of_a_deployment_shares_the_cursor_key(db: Database, tenant: Tenant) -> None:
    _pages(db, tenant)
    h = tenant.headers
    one, two = (TestClient(create_app(Settings(database_url=db.url), db=db)) for _ in range(2))
    other = TestClient(create_app(Settings(database_url=db.url, cursor_secret="another deployment!"), db=db))
    token = one.get("/v3/calls", params={"limit": "2"}, headers=h).json()["next_cursor"]
    assert two.get("/v3/calls", params={"limit": "2", "cursor": token}, headers=h).status_code == 200
    refused(other.get("/v3/calls", params={"limit": "2", "cursor": token}, headers=h), mentioning="cursor")


def test_a_declared_oversize_body_is_refused_before_it_is_sent(db: Database, tenant: Tenant) -> None:
    """A real socket: the client declares 1 GB and sends none of it; the answer comes at once.

    A server that read the body first would sit waiting for the gigabyte (the socket times out).
    """
    import socket
    from urllib.parse import urlsplit

    from tests.fakes.server import serve_in_thread

    with serve_in_thread(create_app(Settings(database_url=db.url), db=db)) as base:
        address = urlsplit(base)
        with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
            sock.sendall(
                b"POST /v2/calls/list HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {tenant.api_key}\r\n".encode()
                + b"Content-Length: 1000000000\r\n\r\n"
            )
            answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "PAYLOAD_TOO_LARGE" in answer
