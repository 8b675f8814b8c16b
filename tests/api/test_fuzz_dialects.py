"""Every dialect endpoint, read from the app's OpenAPI document, fed malformed input: never a 500.

Hypothesis (already a test dependency) generates the requests: bodies that mostly carry the
endpoint's own field names with wrong, extreme or nested values (schema-aware, so the fuzz gets
past "not an object" into the handlers), raw bytes that are not JSON, query parameters declared
and undeclared, path ids of every kind (existing calls included). Each answer must be below 500
and, when it is an error, in the dialect's own error shape. schemathesis would derive the same
from the document but pulls a large dependency tree for what a page of Hypothesis does here.

Runs on SQLite and PostgreSQL: some input (a NUL character, a 2**70 integer) only fails on one.
Deterministic (`derandomize`), so a failure reproduces.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.store.db import Database
from tests.factories import Tenant, insert_calls
from tests.sdk.kit import insert_every_shape, web_call

DIALECT_TAGS = ("Vox v3", "Vox v2", "Zudu", "Vocode", "Retell")
EXAMPLES = 50


def is_vox(body: Any) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"error"}
        and {"code", "message", "details"} <= set(body["error"])
    )


def is_zudu(body: Any) -> bool:
    return (
        isinstance(body, dict) and body.get("status") == "error" and {"message", "error", "data"} <= set(body)
    )


def is_vocode(body: Any) -> bool:
    if not (isinstance(body, dict) and set(body) == {"detail"}):
        return False
    detail = body["detail"]
    return isinstance(detail, str) or (
        isinstance(detail, list) and all({"loc", "msg", "type"} <= set(d) for d in detail)
    )


def is_retell(body: Any) -> bool:
    return isinstance(body, dict) and body.get("status") == "error" and isinstance(body.get("message"), str)


ERROR_SHAPES: dict[str, Callable[[Any], bool]] = {
    "Vox v3": is_vox,
    "Vox v2": is_vox,
    "Zudu": is_zudu,
    "Vocode": is_vocode,
    "Retell": is_retell,
}


def _spec() -> dict[str, Any]:
    """The app's OpenAPI document (building it touches no database)."""
    db = Database(f"sqlite:///{Path(tempfile.gettempdir()) / 'callplane-openapi-never-opened.db'}")
    try:
        return create_app(Settings(database_url=db.url), db=db).openapi()
    finally:
        db.dispose()


SPEC = _spec()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    found = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            tag = (op.get("tags") or [""])[0]
            if tag in DIALECT_TAGS:
                found.append((tag, method.upper(), path, op))
    return found


def schema_fields(spec: dict[str, Any], op: dict[str, Any]) -> list[str]:
    """Every property name in the request body schema, nested ones included."""
    names: set[str] = set()
    schemas = spec.get("components", {}).get("schemas", {})

    def walk(node: Any, seen: frozenset[str]) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                name = ref.rsplit("/", 1)[-1]
                if name not in seen:
                    walk(schemas.get(name, {}), seen | {name})
            names.update(node.get("properties", {}))
            for value in node.values():
                walk(value, seen)
        elif isinstance(node, list):
            for value in node:
                walk(value, seen)

    walk(op.get("requestBody", {}), frozenset())
    return sorted(names)


#: Values that are valid somewhere, so a body gets past the first check and into the handler.
def plausible(tenant: Tenant, call_ids: list[str]) -> st.SearchStrategy[Any]:
    return st.sampled_from(
        [
            tenant.agent_id,
            *call_ids,
            "+827011112222",
            "+821012345678",
            "07011112222",
            "01012345678",
            "current",
            "v1",
            1,
            0,
            -1,
            2**63,
            2**70,
            1e308,
            -1e308,
            0.5,
            "ascending",
            "descending",
            "start_timestamp",
            "call_duration",
            "ended",
            "ONGOING",
            "registered",
            "scheduled",
            "phone_call",
            "WEB_CALL",
            "outbound",
            "user_hangup",
            "ivr_reached",
            "Positive",
            "help support",
            "취소",
            "\x00",
            "a\x00b",
            "\ud800",
            "x\udfff",
            2**64,
            -(2**63) - 1,
            "%_'\"\\",
            "",
            " ",
            ["ended", "ONGOING"],
            [tenant.agent_id],
            {"lower_threshold": 30000, "upper_threshold": 300000},
            {"lower_threshold": 2**70},
            {"type": "enum", "op": "in", "value": ["ended"]},
            {"type": "number", "op": "gt", "value": 1e308},
            {"type": "range", "op": "bt", "value": [2**70, -(2**70)]},
            {"type": "string", "op": "eq", "value": "\x00"},
            {"type": "string", "op": "co", "value": "예약"},
            [{"agent_id": tenant.agent_id}],
            [{"key": "k", "type": "number", "op": "eq", "value": 2**70}],
            {"agent_id": tenant.agent_id, "agent_version": "current"},
        ]
    )


def json_values(seed: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**80), max_value=2**80)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=20)
        | seed
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
        ),
        max_leaves=12,
    )


RAW_BODIES = [
    b"",
    b"{",
    b"[]",
    b"null",
    b'"text"',
    b"NaN",
    b'{"limit": NaN}',
    b'{"limit": Infinity, "page": -Infinity}',
    b"\xff\xfe\x00",
    b'{"filter_criteria": ' * 200 + b"{}" + b"}" * 200,
    b"[" * 3000 + b"]" * 3000,
]


def request_strategy(
    spec: dict[str, Any], op: dict[str, Any], path: str, tenant: Tenant, call_ids: list[str]
) -> st.SearchStrategy[dict[str, Any]]:
    seed = plausible(tenant, call_ids)
    values = json_values(seed)
    fields = [*schema_fields(spec, op), "filter_criteria", "unknown_field"]
    shaped_body = st.dictionaries(st.sampled_from(fields), values, max_size=6)
    nested = st.fixed_dictionaries(
        {"filter_criteria": st.dictionaries(st.sampled_from(fields), values, max_size=4)},
        optional={"limit": values, "page": values, "sort_order": values},
    )
    body = st.one_of(
        shaped_body.map(lambda b: ("json", b)),
        nested.map(lambda b: ("json", b)),
        values.map(lambda b: ("json", b)),
        st.sampled_from(RAW_BODIES).map(lambda b: ("raw", b)),
        st.just(("none", None)),
    )
    params = [p for p in op.get("parameters", []) if p["in"] == "query"]
    text = (
        st.text(max_size=20)
        | st.sampled_from(
            ["-1", "0", "1", "101", "1e309", "NaN", str(2**70), "true", "maybe", "\x00", *call_ids]
        )
        | seed.map(lambda v: v if isinstance(v, str) else json.dumps(v))
    )
    # A URL cannot carry a lone surrogate at all (the client cannot even encode it).
    text = text.filter(lambda v: not any("\ud800" <= ch <= "\udfff" for ch in v))
    query = st.lists(
        st.tuples(st.sampled_from([p["name"] for p in params] + ["bogus", "metadata.k"]), text), max_size=5
    )
    path_id = st.sampled_from(call_ids) | st.text(min_size=1, max_size=40)
    auth = st.sampled_from(["good", "good", "good", "none", "wrong"])
    return st.fixed_dictionaries({"body": body, "query": query, "path_id": path_id, "auth": auth})


def headers_for(tag: str, tenant: Tenant, auth: str) -> dict[str, str]:
    if auth == "none":
        return {}
    if tag == "Zudu":
        secret = tenant.key_secret if auth == "good" else "cps_wrong_wrong_wrong_wrong"
        return {"X-API-KEY": tenant.key_id, "X-API-SECRET": secret}
    key = tenant.api_key if auth == "good" else "cp_wrong_wrong_wrong_wrong"
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def seeded(db: Database, tenant: Tenant) -> list[str]:
    made = insert_every_shape(db, tenant)
    web = web_call(tenant)
    insert_calls(db, [web])
    return [c.id for c in made.values()] + [web.id]


ENDPOINTS = operations(SPEC)


def test_openapi_lists_every_dialect_endpoint(client: TestClient) -> None:
    # The document the server answers is the one these tests read (not the object compared with
    # itself): every dialect endpoint below is in what a client downloads.
    served = client.get("/openapi.json").json()
    assert {p: sorted(m) for p, m in served["paths"].items()} == {
        p: sorted(m) for p, m in SPEC["paths"].items()
    }
    found = {(tag, method, path) for tag, method, path, _ in ENDPOINTS}
    assert {tag for tag, _, _ in found} == set(DIALECT_TAGS)
    for expected in [
        ("Zudu", "POST", "/api/calls"),
        ("Zudu", "GET", "/api/calls"),
        ("Zudu", "GET", "/api/calls/{call_id}"),
        ("Zudu", "POST", "/api/calls/create-phone-call"),
        ("Vocode", "GET", "/v1/calls/list"),
        ("Vocode", "GET", "/v1/calls"),
        ("Vocode", "POST", "/v1/calls/create"),
        ("Vocode", "POST", "/v1/calls/end"),
        ("Retell", "POST", "/v2/create-phone-call"),
        ("Retell", "GET", "/v2/get-call/{call_id}"),
        ("Retell", "POST", "/v2/list-calls"),
        ("Retell", "POST", "/v3/list-calls"),
        ("Retell", "POST", "/v2/stop-call/{call_id}"),
    ]:
        assert expected in found


@pytest.mark.parametrize(
    ("tag", "method", "path", "op"), ENDPOINTS, ids=[f"{t} {m} {p}" for t, m, p, _ in ENDPOINTS]
)
def test_no_input_makes_an_endpoint_fail_with_a_500(
    client: TestClient,
    tenant: Tenant,
    seeded: list[str],
    tag: str,
    method: str,
    path: str,
    op: dict[str, Any],
) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(request_strategy(SPEC, op, path, tenant, seeded))
    def probe(req: dict[str, Any]) -> None:
        url = path.replace("{call_id}", quote(req["path_id"], safe=""))
        headers = headers_for(tag, tenant, req["auth"])
        kind, body = req["body"]
        kwargs: dict[str, Any] = {"params": req["query"], "headers": headers}
        if method == "POST" and kind == "json":
            # The stdlib encoder: orjson refuses integers past 64 bits and lone surrogates,
            # which clients do send (as `\ud800` escapes).
            kwargs["content"] = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif method == "POST" and kind == "raw":
            kwargs["content"] = body
            headers["Content-Type"] = "application/json"
        response = client.request(method, url, **kwargs)
        where = f"{tag} {method} {url} {req!r}"
        assert response.status_code < 500, f"{where} -> {response.status_code} {response.text[:300]}"
        if "/" in req["path_id"] and "{call_id}" in path and response.json() == {"detail": "Not Found"}:
            return  # an id holding "/" names another path: no dialect route matched it
        if response.status_code >= 400:
            assert ERROR_SHAPES[tag](response.json()), f"{where} -> {response.text[:300]}"

    probe()


def valid_bodies(tenant: Tenant, call_ids: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """A body each JSON endpoint accepts, every kind of field filled in."""
    numbers = {"from_number": "+827011112222", "to_number": "+821012345678"}
    return {
        ("POST", "/v3/calls"): {
            "from_number": "07011112222",
            "to_number": "01012345678",
            "agent": {"agent_id": tenant.agent_id, "agent_version": "current"},
            "dynamic_variables": {"customer_name": "홍길동", "n": 1},
            "metadata": {"crm_lead_id": "lead_a1b2c3", "wave": 2},
        },
        ("POST", "/v2/calls/list"): {
            "filter_criteria": {
                "agent_id": [tenant.agent_id],
                "call_status": ["ended"],
                "duration": {"lower_threshold": 1, "upper_threshold": 600000},
                "transcript_search": "예약",
                "metadata": {"wave": 2},
            },
            "limit": 10,
            "sort_order": "descending",
        },
        ("POST", "/api/calls"): {
            "page": 0,
            "limit": 50,
            "sort_by": "start_timestamp",
            "sort_order": "descending",
            "filter_criteria": {
                "call_status": ["ongoing", "ended", "registered"],
                "agent_id": [tenant.agent_id],
                "duration_ms": {"lower_threshold": 30000, "upper_threshold": 300000},
                "transcript_search": "help support",
            },
        },
        ("POST", "/api/calls/create-phone-call"): {
            **numbers,
            "override_agent_id": tenant.agent_id,
            "metadata": {"customer_id": "cust-001", "n": 1},
            "dynamic_variables": {"customer_name": "홍길동"},
        },
        ("POST", "/v1/calls/create"): {
            **numbers,
            "agent": tenant.agent_id,
            "context": {"customer_name": "홍길동"},
            "hipaa_compliant": False,
        },
        ("POST", "/v2/create-phone-call"): {
            **numbers,
            "override_agent_id": tenant.agent_id,
            "override_agent_version": 1,
            "retell_llm_dynamic_variables": {"customer_name": "홍길동"},
            "metadata": {"crm_lead_id": "x", "n": 1},
            "idempotency_key": "fuzz-key",
        },
        ("POST", "/v2/list-calls"): {
            "filter_criteria": {"agent_id": [tenant.agent_id], "duration_ms": {"lower_threshold": 1}},
            "limit": 10,
            "pagination_key": call_ids[0],
        },
        ("POST", "/v3/list-calls"): {
            "filter_criteria": {
                "call_id": {"type": "enum", "op": "in", "value": call_ids[:2]},
                "duration_ms": {"type": "range", "op": "bt", "value": [1, 600000]},
                "metadata": [{"key": "crm_lead_id", "type": "string", "op": "eq", "value": "lead_a1b2c3"}],
                "transcript": {"type": "string", "op": "co", "value": "예약"},
            },
            "limit": 10,
            "include_total": True,
        },
        ("POST", "/create-batch-call"): {
            "from_number": "+827011112222",
            "name": "fuzz batch",
            "tasks": [
                {
                    "to_number": "+821012345678",
                    "override_agent_id": tenant.agent_id,
                    "retell_llm_dynamic_variables": {"customer_name": "홍길동"},
                    "metadata": {"n": 1},
                }
            ],
            "call_time_window": {"windows": [{"start": 540, "end": 1080}], "day": ["Monday"]},
            "reserved_concurrency": 2,
            "trigger_timestamp": 4_102_444_800_000,
        },
    }


HOSTILE = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udc00y",
    "",
    "x" * 60_000,
    2**63,
    -(2**70),
    1e308,
    [],
    {},
    None,
    True,
]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path to every leaf and every dict key of a JSON value."""
    if isinstance(value, dict):
        out: list[tuple[Any, ...]] = []
        for key, item in value.items():
            out.append((*path, ("key", key)))
            out.extend(leaves(item, (*path, key)))
        return out
    if isinstance(value, list):
        return [leaf for i, item in enumerate(value) for leaf in leaves(item, (*path, i))]
    return [path]


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):  # rename a key
        return {(new if k == head[1] and isinstance(new, str) else k): v for k, v in value.items()}
    if isinstance(value, dict):
        return {k: (replaced(v, rest, new) if k == head else v) for k, v in value.items()}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(value)]


def test_every_json_endpoint_has_a_valid_example(
    client: TestClient, tenant: Tenant, seeded: list[str]
) -> None:
    bodies = valid_bodies(tenant, seeded)
    with_body = {(m, p) for _, m, p, op in ENDPOINTS if "requestBody" in op}
    assert set(bodies) == with_body
    for (method, path), body in bodies.items():
        tag = next(t for t, m, p, _ in ENDPOINTS if (m, p) == (method, path))
        headers = headers_for(tag, tenant, "good")
        response = client.request(method, path, json=body, headers=headers)
        assert response.status_code < 300, (path, response.text)


def test_a_hostile_value_in_any_field_is_a_4xx(client: TestClient, tenant: Tenant, seeded: list[str]) -> None:
    """Every leaf and key of a valid body, replaced in turn by each hostile value."""
    failures = []
    for (method, path), body in valid_bodies(tenant, seeded).items():
        tag = next(t for t, m, p, _ in ENDPOINTS if (m, p) == (method, path))
        headers = {**headers_for(tag, tenant, "good"), "Content-Type": "application/json"}
        for leaf in leaves(body):
            for value in HOSTILE:
                sent = replaced(body, leaf, value)
                response = client.request(method, path, content=json.dumps(sent).encode(), headers=headers)
                if response.status_code >= 500 or (
                    response.status_code >= 400 and not ERROR_SHAPES[tag](response.json())
                ):
                    failures.append(f"{tag} {path} {leaf} = {value!r:.40} -> {response.status_code}")
    assert failures == []
