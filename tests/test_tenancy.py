"""Issue 15 replayed end to end: a hostile second tenant against a real `callplane serve`.

One server process per database (a fresh SQLite file, a fresh PostgreSQL database), with the
operator token set and the production rate limits. Organisation A is the demo organisation
(its bootstrap key); organisation B is made by the operator. B then tries each defect the issue
lists. Every attempt must end in a 4xx in the dialect's own shape, nothing of A's may be
reachable, and no request may answer 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from callplane.config import Settings
from tests.test_serve import SEED_001, Server, start_server

pytestmark = pytest.mark.slow

A_KEY = "cp_tenancy_replay_demo_key_0001"
OPERATOR_TOKEN = "op_tenancy_replay_" + "t" * 32
DEMO_AGENT = SEED_001["agent"]["agent_id"]
B_NUMBER = "07055556666"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _production_limits() -> dict[str, str]:
    # tests/conftest.py lifts the limits for every other test's servers; this one keeps the defaults.
    return {
        f"CALLPLANE_{name.upper()}": str(Settings.model_fields[name].default)
        for name in ("rate_limit_per_key", "rate_limit_per_organization", "rate_limit_auth_failures")
    }


@dataclass
class Replay:
    server: Server
    http: httpx.Client
    b_key: str
    b_calls_only: str
    b_org: str
    statuses: list[int]

    def call(self, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
        response = self.http.request(
            method, path, headers={**_bearer(key), **kwargs.pop("headers", {})}, **kwargs
        )
        self.statuses.append(response.status_code)
        return response

    def wait_ended(self, call_id: str, key: str) -> dict[str, Any]:
        deadline = time.monotonic() + 90
        while True:
            call: dict[str, Any] = self.call("GET", f"/v3/calls/{call_id}", key).json()
            if (
                call["status"] in ("ended", "error", "not_connected", "canceled")
                and call["call_cost"] is not None
            ):
                return call
            assert time.monotonic() < deadline, call
            time.sleep(0.2)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replay(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Replay]:
    env = {
        "CALLPLANE_BOOTSTRAP_API_KEY": A_KEY,
        "CALLPLANE_OPERATOR_TOKEN": OPERATOR_TOKEN,
        "CALLPLANE_SIMULATOR_SPEED": "50",
        **_production_limits(),
    }
    if request.param == "postgres":
        env["CALLPLANE_DATABASE_URL"] = request.getfixturevalue("empty_postgres_url")
    server = start_server(tmp_path, env)
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            operator = _bearer(OPERATOR_TOKEN)
            org = http.post(
                "/operator/v1/organizations", json={"name": "B", "balance": "1000.00"}, headers=operator
            )
            assert org.status_code == 201, org.text
            b_org = org.json()["id"]
            window = {"calling_window": {"start": "00:00", "end": "24:00"}}
            assert (
                http.patch(f"/operator/v1/organizations/{b_org}", json=window, headers=operator).status_code
                == 200
            )
            every = [
                "calls:read",
                "calls:write",
                "agents:admin",
                "numbers:admin",
                "webhooks:admin",
                "keys:admin",
            ]
            b_key = http.post(
                f"/operator/v1/organizations/{b_org}/keys",
                json={"name": "b", "scopes": every},
                headers=operator,
            ).json()["key"]
            b_calls_only = http.post(
                f"/operator/v1/organizations/{b_org}/keys", json={}, headers=operator
            ).json()["key"]
            assigned = http.post(
                f"/operator/v1/organizations/{b_org}/numbers", json={"number": B_NUMBER}, headers=operator
            )
            assert assigned.status_code == 201, assigned.text
            yield Replay(server, http, b_key, b_calls_only, b_org, [])
    finally:
        server.stop()


def _flow_saying(words: str, agent_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "hostile",
        "type": "flow",
        "flow": {"start": "hi", "nodes": {"hi": {"type": "end", "say": words, "reason": "agent_hangup"}}},
    }
    if agent_id is not None:
        body["id"] = agent_id
    return body


def test_a_hostile_second_tenant_gets_4xx_and_nothing_of_the_first(replay: Replay) -> None:
    r = replay
    a_call = r.call("POST", "/v3/calls", A_KEY, json=SEED_001)
    assert a_call.status_code == 201, a_call.text
    a_call_id = a_call.json()["id"]

    # 1. B reuses A's public demo agent id with its own words, and runs a call first.
    assert (
        r.call("POST", "/admin/v1/agents", r.b_key, json=_flow_saying("B가 말합니다", DEMO_AGENT)).status_code
        == 201
    )
    b_body = {**SEED_001, "from_number": B_NUMBER, "to_number": "01011112222"}
    b_call = r.call("POST", "/v3/calls", r.b_key, json=b_body)
    assert b_call.status_code == 201, b_call.text
    assert r.wait_ended(b_call.json()["id"], r.b_key)["transcript"][0]["content"] == "B가 말합니다"
    second_a = r.call("POST", "/v3/calls", A_KEY, json={**SEED_001, "to_number": "01033334444"}).json()["id"]
    heard = r.wait_ended(second_a, A_KEY)["transcript"][0]["content"]
    assert "홍길동" in heard and "B가" not in heard
    # Nothing of A's is B's: A's call is a 404 in every dialect B can speak.
    assert r.call("GET", f"/v3/calls/{a_call_id}", r.b_key).status_code == 404
    assert r.call("GET", f"/v2/calls/{a_call_id}", r.b_key).status_code == 404
    assert r.call("GET", f"/v2/get-call/{a_call_id}", r.b_key).status_code in (
        404,
        422,
    )  # Retell's "not found"
    assert r.call("GET", "/v1/calls", r.b_key, params={"id": a_call_id}).status_code == 404
    assert r.call("POST", f"/v3/calls/{a_call_id}/cancel", r.b_key).status_code == 404
    assert a_call_id not in r.call("GET", "/v3/calls", r.b_key).text

    # 2. B sets its own billing, or makes keys with its calls-only key.
    for change in (
        {"balance": "999999999.00"},
        {"rate_per_minute": "0"},
        {"max_concurrent_calls": 100000},
        {"balance": None},
    ):
        refused = r.call("PATCH", "/admin/v1/organization", r.b_key, json=change)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN", change
    org = r.call("GET", "/admin/v1/organization", r.b_key).json()
    assert (org["balance"], org["rate_per_minute"]) != ("999999999.00", "0")
    assert r.call("POST", "/admin/v1/keys", r.b_calls_only, json={"name": "escalate"}).status_code == 403
    assert r.call("POST", "/admin/v1/keys", r.b_key, json={"scopes": ["operator"]}).status_code == 400

    # 3. SSRF through an LLM agent's base_url, and 8. webhook URLs on internal addresses.
    llm_agent = {"name": "ssrf", "type": "llm", "llm": {"base_url": "http://127.0.0.1:9/v1", "prompt": "x"}}
    ssrf = r.call("POST", "/admin/v1/agents", r.b_key, json=llm_agent)
    assert ssrf.status_code == 400 and ssrf.json()["error"]["details"]["field"] == "llm.base_url", ssrf.text
    for url in (
        "http://127.1/x",
        "http://2130706433/x",
        "http://[::ffff:127.0.0.1]/x",
        "http://localhost/x",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/x",
    ):
        refused = r.call("POST", "/admin/v1/webhook-endpoints", r.b_key, json={"url": url})
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "VALIDATION_ERROR", url

    # 4. Unbounded filters and bodies.
    huge_metadata = {"filter_criteria": {"metadata": {f"k{i}": "v" for i in range(40_000)}}}
    assert r.call("POST", "/v2/calls/list", r.b_key, json=huge_metadata).status_code in (400, 413)
    many_agents = {"filter_criteria": {"agent_id": [DEMO_AGENT] * 100_000}}
    assert r.call("POST", "/v2/calls/list", r.b_key, json=many_agents).status_code in (400, 413)
    long_search = {"filter_criteria": {"transcript_search": "가" * 5_000_000}}
    assert r.call("POST", "/v2/calls/list", r.b_key, json=long_search).status_code == 413

    # 5. Bad numbers.
    for value in (10**30, -(10**30), 2**63 - 1):
        assert r.call("GET", "/v3/calls", r.b_key, params={"start_at_after": value}).status_code == 400, value
    assert (
        r.call(
            "GET", "/v3/calls", r.b_key, params={"cursor": "eyJpZCI6IDE4NDQ2NzQ0MDczNzA5NTUxNjE2fQ"}
        ).status_code
        == 400
    )
    operator = {"headers": {"Authorization": f"Bearer {OPERATOR_TOKEN}"}}
    bad_balance = r.http.patch(f"/operator/v1/organizations/{r.b_org}", json={"balance": "1e400"}, **operator)
    assert bad_balance.status_code == 400
    assert r.call(
        "PATCH", "/admin/v1/organization", r.b_key, json={"name": "가" * 1_000_000}
    ).status_code in (400, 413)
    assert r.call("POST", "/admin/v1/keys", r.b_key, json={"name": "x" * 100_000}).status_code == 400

    # 6. The Retell create honours the Idempotency-Key header.
    retell = {
        "from_number": "+82" + B_NUMBER[1:],
        "to_number": "+821055556666",
        "override_agent_id": DEMO_AGENT,
    }
    first = r.call(
        "POST", "/v2/create-phone-call", r.b_key, json=retell, headers={"Idempotency-Key": "retell-1"}
    )
    again = r.call(
        "POST", "/v2/create-phone-call", r.b_key, json=retell, headers={"Idempotency-Key": "retell-1"}
    )
    assert first.status_code == 201 and again.status_code == 201, (first.text, again.text)
    assert first.json()["call_id"] == again.json()["call_id"]

    # 7. Numbers are exclusive; caller IDs are approved by the operator.
    taken = r.http.post(
        f"/operator/v1/organizations/{r.b_org}/numbers", json={"number": "07011112222"}, **operator
    )
    assert taken.status_code == 409
    assert r.call("POST", "/admin/v1/numbers", r.b_key, json={"number": "07011112222"}).status_code == 403
    self_approved = r.call(
        "POST", "/admin/v1/presentation-numbers", r.b_key, json={"number": "0212345678", "approved": True}
    )
    assert self_approved.status_code == 403
    a_numbers = [n["number"] for n in r.call("GET", "/admin/v1/numbers", A_KEY).json()]
    assert "07011112222" in a_numbers

    # 9. A 10 MB agent description is refused before it is read.
    big = {**_flow_saying("x"), "description": "d" * 10_000_000}
    assert r.call("POST", "/admin/v1/agents", r.b_key, json=big).status_code == 413

    # 10. A misspelled field is named, not dropped.
    typo = {**SEED_001, "from_number": B_NUMBER, "dynamic_variabels": {"customer_name": "x"}}
    typo.pop("dynamic_variables")
    refused = r.call("POST", "/v3/calls", r.b_key, json=typo)
    assert refused.status_code == 400 and "dynamic_variabels" in refused.text

    assert [s for s in r.statuses if s >= 500] == []


def test_a_burst_from_one_key_is_throttled_and_another_tenant_is_not(replay: Replay) -> None:
    r = replay

    def read(key: str) -> httpx.Response:
        return r.http.get("/v3/calls", headers=_bearer(key), params={"limit": 1})

    with ThreadPoolExecutor(max_workers=16) as pool:
        burst = list(pool.map(lambda _: read(r.b_key), range(500)))
    limited = [b for b in burst if b.status_code == 429]
    assert limited and all(b.status_code in (200, 429) for b in burst)
    assert all(int(b.headers["retry-after"]) >= 1 and "ratelimit-policy" in b.headers for b in limited)
    assert limited[0].json()["error"]["code"] == "RATE_LIMITED"
    assert read(A_KEY).status_code == 200


def test_concurrent_repeats_of_one_idempotency_key_make_one_call(replay: Replay) -> None:
    r = replay
    assert r.call("POST", "/admin/v1/agents", r.b_key, json=_flow_saying("네", DEMO_AGENT)).status_code == 201
    body = {**SEED_001, "from_number": B_NUMBER, "to_number": "01077778888"}
    org_limits = {"headers": {"Authorization": f"Bearer {OPERATOR_TOKEN}"}}
    assert (
        r.http.patch(
            f"/operator/v1/organizations/{r.b_org}", json={"max_concurrent_calls": 1}, **org_limits
        ).status_code
        == 200
    )
    # Under the per-key limit (50 a second): 40 at once, all with one key.
    with ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(
            pool.map(
                lambda _: r.http.post(
                    "/v3/calls", json=body, headers={**_bearer(r.b_key), "Idempotency-Key": "same"}
                ),
                range(40),
            )
        )
    assert [a.status_code for a in answers if a.status_code >= 500] == [], answers[0].text
    created = {a.json()["id"] for a in answers if a.status_code in (200, 201)}
    assert len(created) == 1 and all(a.status_code in (200, 201, 409) for a in answers)
