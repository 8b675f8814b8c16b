"""Idempotency-Keys on admin creates (Stripe-style), through the real app on both databases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain.agent import Agent
from callplane.domain.ids import new_id
from callplane.engine.clock import FixedClock, SystemClock
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import IDEMPOTENCY_TTL_MS
from callplane.engine.services.idempotency import RequestIdempotency, fingerprint, purge_expired
from callplane.store.db import Database
from callplane.store.schema import idempotent_requests
from tests.factories import FLOW_AGENT, Tenant, call_body, make_tenant
from tests.fakes.server import serve_in_thread


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(SystemClock().now_ms())


@pytest.fixture
def admin_client(db: Database, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db.url, embedded_worker=False), db=db, clock=clock)
    with TestClient(app) as test_client:
        yield test_client


def keyed(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


def creates(tenant: Tenant) -> list[tuple[str, dict[str, Any], str]]:
    """(path, body, the list that shows what it created) for every admin create without a secret."""
    return [
        ("/admin/v1/agents", {**FLOW_AGENT, "name": "keyed"}, "/admin/v1/agents"),
        (f"/admin/v1/agents/{tenant.agent_id}/versions", FLOW_AGENT, f"/admin/v1/agents/{tenant.agent_id}"),
        ("/admin/v1/presentation-numbers", {"number": "0311234567"}, "/admin/v1/presentation-numbers"),
        ("/admin/v1/suppressions", {"number": "01099998888"}, "/admin/v1/suppressions"),
    ]


def size(client: TestClient, tenant: Tenant, path: str) -> int:
    listed = client.get(path, headers=tenant.headers).json()
    return len(listed["versions"] if isinstance(listed, dict) else listed)


def test_each_admin_create_replays_its_first_response(admin_client: TestClient, db: Database) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    for i, (path, body, listing) in enumerate(creates(tenant)):
        before = size(admin_client, tenant, listing)
        first = admin_client.post(path, json=body, headers=keyed(tenant, f"k{i}"))
        assert first.status_code == 201, first.text
        again = admin_client.post(path, json=body, headers=keyed(tenant, f"k{i}"))
        assert (again.status_code, again.json()) == (201, first.json()), path
        assert again.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert size(admin_client, tenant, listing) == before + 1, path
        # The same key with another body (or on another path) is the dialect's mismatch error.
        other = admin_client.post(path, json={**body, "extra": 1}, headers=keyed(tenant, f"k{i}"))
        assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    elsewhere = admin_client.post(
        "/admin/v1/suppressions", json={"number": "01077778888"}, headers=keyed(tenant, "k0")
    )
    assert elsewhere.status_code == 422


def test_without_a_key_every_request_creates(admin_client: TestClient, db: Database) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    for _ in range(2):
        assert (
            admin_client.post("/admin/v1/agents", json=FLOW_AGENT, headers=tenant.headers).status_code == 201
        )
    assert size(admin_client, tenant, "/admin/v1/agents") == 3


@pytest.mark.parametrize(
    ("path", "body", "secret_fields"),
    [
        ("/admin/v1/keys", {"name": "crm"}, ("key",)),
        ("/admin/v1/keys", {"name": "pair", "kind": "key_secret"}, ("key", "secret")),
        ("/admin/v1/webhook-endpoints", {"url": "https://hooks.example.com/x"}, ("secret",)),
    ],
)
def test_a_secret_shown_once_is_not_stored_and_not_replayed(
    admin_client: TestClient, db: Database, path: str, body: dict[str, Any], secret_fields: tuple[str, ...]
) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    listing = path
    before = size(admin_client, tenant, listing)
    first = admin_client.post(path, json=body, headers=keyed(tenant, "once"))
    assert first.status_code == 201, first.text
    again = admin_client.post(path, json=body, headers=keyed(tenant, "once"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "CONFLICT"
    assert first.json()["id"] in again.json()["error"]["message"]
    assert "shown once" in again.json()["error"]["message"]
    assert size(admin_client, tenant, listing) == before + 1
    with db.read() as conn:
        stored = conn.execute(select(idempotent_requests.c.body)).scalar_one()
    for name in secret_fields:
        assert first.json()[name] not in stored


def test_a_failed_create_stores_nothing_and_may_be_retried(admin_client: TestClient, db: Database) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    agent_id = new_id()
    path = f"/admin/v1/agents/{agent_id}/versions"
    missing = admin_client.post(path, json=FLOW_AGENT, headers=keyed(tenant, "v"))
    assert missing.status_code == 404
    created = admin_client.post(
        "/admin/v1/agents", json={**FLOW_AGENT, "id": agent_id}, headers=tenant.headers
    )
    assert created.status_code == 201
    retried = admin_client.post(path, json=FLOW_AGENT, headers=keyed(tenant, "v"))
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert retried.json() == {"agent_id": agent_id, "version": 2}


def test_a_repeat_while_the_first_is_in_flight_is_a_409(
    admin_client: TestClient, db: Database, clock: FixedClock
) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    body = {"number": "01055556666"}
    # The first request has marked the key and is still working.
    in_flight = RequestIdempotency(db, clock.now_ms)
    assert (
        in_flight.begin(tenant.organization_id, "n", fingerprint("POST", "/admin/v1/suppressions", body))
        is None
    )
    repeat = admin_client.post("/admin/v1/suppressions", json=body, headers=keyed(tenant, "n"))
    assert repeat.status_code == 409 and repeat.json()["error"]["code"] == "CONFLICT"
    assert "in progress" in repeat.json()["error"]["message"]
    # A marker whose process died is taken over after a minute.
    clock.advance(61_000)
    assert (
        admin_client.post("/admin/v1/suppressions", json=body, headers=keyed(tenant, "n")).status_code == 201
    )


def test_records_expire_after_24_hours(admin_client: TestClient, db: Database, clock: FixedClock) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    first = admin_client.post("/admin/v1/agents", json=FLOW_AGENT, headers=keyed(tenant, "a"))
    clock.advance(IDEMPOTENCY_TTL_MS + 1)
    later = admin_client.post("/admin/v1/agents", json=FLOW_AGENT, headers=keyed(tenant, "a"))
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    call = admin_client.post("/v3/calls", json=call_body(tenant), headers=keyed(tenant, "c"))
    assert call.status_code == 201
    clock.advance(IDEMPOTENCY_TTL_MS + 1)
    assert purge_expired(db, clock.now_ms()) == 2  # the admin key and the call key
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(idempotent_requests)).scalar_one() == 0


def test_keys_belong_to_one_organisation(admin_client: TestClient, db: Database) -> None:
    ours = make_tenant(db, SystemClock().now_ms())
    theirs = make_tenant(db, SystemClock().now_ms(), name="other")
    a = admin_client.post("/admin/v1/agents", json=FLOW_AGENT, headers=keyed(ours, "same"))
    b = admin_client.post("/admin/v1/agents", json=FLOW_AGENT, headers=keyed(theirs, "same"))
    assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]


def test_a_bad_key_is_a_400(admin_client: TestClient, db: Database) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    bad = admin_client.post("/admin/v1/agents", json=FLOW_AGENT, headers=keyed(tenant, "x" * 256))
    assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "Idempotency-Key"


def test_concurrent_admin_creates_with_one_key_create_once(db: Database) -> None:
    tenant = make_tenant(db, SystemClock().now_ms())
    before = len(_agents(db, tenant))
    app = create_app(Settings(database_url=db.url, embedded_worker=False), db=db)
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as http:

        def create(_: int) -> httpx.Response:
            return http.post("/admin/v1/agents", json=FLOW_AGENT, headers=keyed(tenant, "burst"))

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(create, range(60)))
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    assert len({r.json()["id"] for r in responses if r.status_code == 201}) == 1
    assert len(_agents(db, tenant)) == before + 1


def _agents(db: Database, tenant: Tenant) -> list[Agent]:
    return Admin(db, SystemClock().now_ms).agents(tenant.organization_id)
