"""Rate limits through the real app (issue 15, defect 9): per key, per organisation, and wrong
credentials per source address; in memory and in the real local Redis."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from tests.factories import Tenant, make_tenant

DEFAULTS = {
    name: Settings.model_fields[name].default
    for name in ("rate_limit_per_key", "rate_limit_per_organization", "rate_limit_auth_failures")
}


@pytest.fixture(params=["memory", "redis"])
def storage(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None: process memory; else the Redis URL, with callplane's counters cleared."""
    if request.param == "memory":
        yield None
        return
    url: str = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    for key in client.scan_iter("callplane-ratelimit*"):
        client.delete(key)
    client.close()
    yield url


def settings(db: Database, storage: str | None, **limits: str) -> Settings:
    return Settings(database_url=db.url, redis_url=storage, **{**DEFAULTS, **limits})


def tenant(db: Database) -> Tenant:
    return make_tenant(db, SystemClock().now_ms())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_burst_from_one_key_gets_429s_and_another_key_is_unaffected(
    sqlite_db: Database, storage: str | None
) -> None:
    """The default limits: 500 requests at once from one key."""
    noisy, quiet = tenant(sqlite_db), tenant(sqlite_db)
    app = create_app(settings(sqlite_db, storage), db=sqlite_db)

    async def burst() -> tuple[list[httpx.Response], httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://callplane") as client:
            answers = await asyncio.gather(
                *(client.get("/v3/calls?limit=1", headers=bearer(noisy.api_key)) for _ in range(500))
            )
            other = await client.get("/v3/calls?limit=1", headers=bearer(quiet.api_key))
        await app.state.rate_limits.aclose()  # what the lifespan does; ASGITransport runs none
        return answers, other

    answers, other = asyncio.run(burst())
    statuses = Counter(a.status_code for a in answers)
    assert set(statuses) == {200, 429}, statuses
    assert statuses[200] >= 50 and statuses[429] >= 1
    refused = next(a for a in answers if a.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-policy"] == '"key-1s";q=50;w=1, "key-60s";q=1000;w=60'
    assert refused.headers["ratelimit"].startswith('"key-')
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert other.status_code == 200


DIALECTS: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("vox", "GET", "/v3/calls", None),
    ("zudu", "GET", "/api/calls", None),
    ("vocode", "GET", "/v1/calls/list", None),
    ("retell", "POST", "/v2/list-calls", {}),
]


def shape(dialect: str, body: dict[str, Any]) -> bool:
    if dialect == "vox":
        return body["error"]["code"] == "RATE_LIMITED" and body["error"]["details"]["retry_after_s"] >= 1
    if dialect == "zudu":
        return body["status"] == "error" and "too many requests" in body["error"]
    if dialect == "vocode":
        return "too many requests" in body["detail"]
    return body["status"] == "error" and "too many requests" in body["message"]


@pytest.mark.parametrize(("dialect", "method", "path", "body"), DIALECTS)
def test_429_in_each_dialects_shape_with_retry_after_and_ratelimit_fields(
    sqlite_db: Database, storage: str | None, dialect: str, method: str, path: str, body: Any
) -> None:
    t = tenant(sqlite_db)
    headers = (
        {"X-API-KEY": t.key_id, "X-API-SECRET": t.key_secret} if dialect == "zudu" else bearer(t.api_key)
    )
    app = create_app(settings(sqlite_db, storage, rate_limit_per_key="3/minute"), db=sqlite_db)
    with TestClient(app) as client:
        answers = [client.request(method, path, headers=headers, json=body) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429], answers[-1].text
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-policy"] == '"key-60s";q=3;w=60'
    assert refused.headers["ratelimit"] == f'"key-60s";r=0;t={refused.headers["retry-after"]}'
    assert shape(dialect, refused.json()), refused.text


def test_the_organisation_limit_covers_all_its_keys(sqlite_db: Database, storage: str | None) -> None:
    t = tenant(sqlite_db)
    second = Admin(sqlite_db, SystemClock().now_ms).issue_key(t.organization_id, "second").key
    neighbour = tenant(sqlite_db)
    limits = {"rate_limit_per_key": "100/minute", "rate_limit_per_organization": "4/minute"}
    with TestClient(create_app(settings(sqlite_db, storage, **limits), db=sqlite_db)) as client:
        first = [client.get("/v3/calls", headers=bearer(t.api_key)).status_code for _ in range(4)]
        other_key = client.get("/v3/calls", headers=bearer(second))
        other_org = client.get("/v3/calls", headers=bearer(neighbour.api_key))
    assert first == [200] * 4
    assert other_key.status_code == 429
    assert other_key.headers["ratelimit-policy"] == '"organization-60s";q=4;w=60'
    assert other_org.status_code == 200


def test_wrong_credentials_are_throttled_per_source_address(sqlite_db: Database, storage: str | None) -> None:
    t = tenant(sqlite_db)
    app = create_app(settings(sqlite_db, storage, rate_limit_auth_failures="5/minute"), db=sqlite_db)
    wrong = bearer("cp_not_a_real_key_000000000000")
    with TestClient(app, client=("203.0.113.7", 40000)) as attacker:
        tries = [attacker.get("/v3/calls", headers=wrong).status_code for _ in range(6)]
        zudu = attacker.get("/api/calls", headers={"X-API-KEY": t.key_id, "X-API-SECRET": "guess"})
        # Past the allowance even the right key is refused from there: no lookup is made.
        right_from_there = attacker.get("/v3/calls", headers=bearer(t.api_key))
    with TestClient(app, client=("198.51.100.9", 40000)) as elsewhere:
        right_elsewhere = elsewhere.get("/v3/calls", headers=bearer(t.api_key))
    assert tries == [401] * 5 + [429]
    assert zudu.status_code == 429 and zudu.json()["status"] == "error" and "retry-after" in zudu.headers
    assert right_from_there.status_code == 429
    assert right_from_there.headers["ratelimit-policy"] == '"auth-60s";q=5;w=60'
    assert right_elsewhere.status_code == 200


def test_an_unreachable_redis_fails_open_with_a_warning(
    sqlite_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    t = tenant(sqlite_db)
    down = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    limits = {"rate_limit_per_key": "1/minute", "rate_limit_auth_failures": "1/minute"}
    app = create_app(settings(sqlite_db, down, **limits), db=sqlite_db)
    with caplog.at_level(logging.WARNING, logger="callplane.api.ratelimit"), TestClient(app) as client:
        answers = [client.get("/v3/calls", headers=bearer(t.api_key)).status_code for _ in range(3)]
        wrong = [client.get("/v3/calls", headers=bearer("cp_wrong")).status_code for _ in range(3)]
    assert answers == [200, 200, 200] and wrong == [401, 401, 401]
    assert "rate-limit storage unavailable" in caplog.text
    assert caplog.text.count("rate-limit storage unavailable") == 1  # once a minute, not per request


def test_guessing_the_operator_token_is_throttled_per_source_address(
    sqlite_db: Database, storage: str | None
) -> None:
    token = "op_" + "x" * 40
    app = create_app(
        settings(sqlite_db, storage, rate_limit_auth_failures="3/minute").model_copy(
            update={"operator_token": token}
        ),
        db=sqlite_db,
    )
    with TestClient(app, client=("203.0.113.8", 40000)) as attacker:
        tries = [
            attacker.get("/operator/v1/organizations", headers=bearer(f"guess-{i}")).status_code
            for i in range(4)
        ]
        right_from_there = attacker.get("/operator/v1/organizations", headers=bearer(token))
    with TestClient(app, client=("198.51.100.10", 40000)) as operator:
        right_elsewhere = operator.get("/operator/v1/organizations", headers=bearer(token))
    assert tries == [401] * 3 + [429]
    assert right_from_there.status_code == 429 and "retry-after" in right_from_there.headers
    assert right_elsewhere.status_code == 200
