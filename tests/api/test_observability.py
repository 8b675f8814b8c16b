"""Request ids, /metrics and /readyz through the real app (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from callplane.store.db import Database
from callplane.store.schema import calls
from tests.factories import Tenant, call_body


def samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    # The Prometheus text parser: raises on anything malformed.
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def value(found: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in found.get(name, []) if all(got.get(k) == x for k, x in labels.items()))


def test_a_clients_request_id_is_echoed_and_stored_on_the_call(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    rid = "crm-7f3e9c12:retry/2"
    created = client.post(
        "/v3/calls", json=call_body(tenant), headers={**tenant.headers, "X-Request-ID": rid}
    )
    assert created.status_code == 201
    assert created.headers["x-request-id"] == rid
    with db.read() as conn:
        stored = conn.execute(select(calls.c.request_id).where(calls.c.id == created.json()["id"])).scalar()
    assert stored == rid
    assert "request_id" not in created.text  # internal: no dialect renders it


def test_unsafe_or_missing_request_ids_are_replaced(client: TestClient, tenant: Tenant) -> None:
    generated = set()
    for given in (None, "", "x" * 129, "a b", "evil\tinjected", b"ok\xc3\xa9"):
        headers: dict[str, str | bytes] = {} if given is None else {"X-Request-ID": given}
        response = client.get("/healthz", headers=headers)
        rid = response.headers["x-request-id"]
        assert rid != given
        assert len(rid) == 32 and rid.isalnum()
        generated.add(rid)
    assert len(generated) == 6
    assert client.get("/healthz", headers={"X-Request-ID": "y" * 128}).headers["x-request-id"] == "y" * 128


def test_errors_carry_the_request_id_too(client: TestClient) -> None:
    response = client.get("/v3/calls/nope", headers={"X-Request-ID": "req-401"})
    assert response.status_code == 401
    assert response.headers["x-request-id"] == "req-401"


def test_http_latency_is_labelled_by_route_template_not_path(client: TestClient, tenant: Tenant) -> None:
    call_ids = [
        client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).json()["id"]
        for _ in range(3)
    ]
    for call_id in call_ids:
        assert client.get(f"/v3/calls/{call_id}", headers=tenant.headers).status_code == 200
    client.get("/no/such/path/123")
    found = samples(client)
    durations = found["callplane_http_request_duration_seconds_count"]
    routes = {labels["route"] for labels, _ in durations}
    assert "/v3/calls/{call_id}" in routes
    assert "unmatched" in routes
    assert not any(call_id in route for route in routes for call_id in call_ids)
    assert (
        value(
            found, "callplane_http_request_duration_seconds_count", route="/v3/calls/{call_id}", status="200"
        )
        >= 3
    )
    assert (
        value(found, "callplane_http_request_duration_seconds_count", route="/v3/calls", method="POST") >= 3
    )


def test_queue_gauges_move_with_the_queue(client: TestClient, tenant: Tenant, db: Database) -> None:
    before = value(samples(client), "callplane_queue_due_calls")
    assert before == 0
    for _ in range(2):
        assert client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).status_code == 201
    with db.write() as conn:
        conn.execute(update(calls).values(due_at=int(time.time() * 1000) - 90_000))
    found = samples(client)
    assert value(found, "callplane_queue_due_calls") == 2
    assert 85 <= value(found, "callplane_queue_oldest_due_age_seconds") < 3600
    assert value(found, "callplane_calls_live") == 0
    assert value(found, "callplane_calls_stuck") == 0


def test_readyz_reports_calls_nobody_reaped(client: TestClient, tenant: Tenant, db: Database) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["workers"] == {
        "status": "ok",
        "stuck_calls": 0,
        "stuck_workers": [],
        "live_calls": 0,
        "queue_due": 0,
    }
    ids = [
        client.post("/v3/calls", json=call_body(tenant), headers=tenant.headers).json()["id"]
        for _ in range(3)
    ]
    now = int(time.time() * 1000)
    with db.write() as conn:
        # One live call a healthy worker holds, two whose worker vanished two minutes ago.
        conn.execute(
            update(calls)
            .where(calls.c.id == ids[0])
            .values(status="ongoing", attempt=1, lease_owner="host:1:aaa", lease_expires_at=now + 30_000)
        )
        conn.execute(
            update(calls)
            .where(calls.c.id.in_(ids[1:]))
            .values(status="ongoing", attempt=1, lease_owner="host:2:dead", lease_expires_at=now - 120_000)
        )
    ready = client.get("/readyz")
    assert ready.status_code == 200  # this API process still serves
    workers = ready.json()["workers"]
    assert workers["status"] == "stuck"
    assert workers["stuck_calls"] == 2
    assert workers["stuck_workers"] == ["host:2:dead"]
    assert workers["live_calls"] == 3
    assert value(samples(client), "callplane_calls_stuck") == 2
