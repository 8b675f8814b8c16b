"""The OpenAPI document as client generators read it, and `/docs` offline.

The checks run over every route of the app, so a route added anywhere must conform: an
operation id, a typed success response, its error model, its security scheme, plain schema
names. `test_a_generated_client_keeps_every_endpoint` runs `openapi-python-client` itself (a
tool installed in its own environment by `make test`: it pins a typer older than ours), with
the repository's `openapi-python-client.yaml` (the two non-JSON bodies as bytes). The handlers
return pre-rendered JSON, so `served_as_declared` checks what routes serve against their models.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import TypeAdapter
from starlette.routing import Match

from callplane.store.db import Database
from tests.api.test_fuzz_dialects import ENDPOINTS, SPEC, headers_for, valid_bodies
from tests.api.test_vox_campaigns import body as campaign_body
from tests.factories import Tenant
from tests.sdk.kit import insert_every_shape
from tests.test_cli_campaigns import write_csv

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = Path(
    os.environ.get("CALLPLANE_OPENAPI_CLIENT", ROOT / ".venv-tools" / "bin" / "openapi-python-client")
)
#: Unauthenticated on purpose (probes).
PUBLIC = {("get", "/healthz"), ("get", "/readyz")}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in SPEC["paths"].items() for method, op in item.items()]


def _typed(op: dict[str, Any]) -> bool:
    for status, response in op["responses"].items():
        if status.startswith("2"):
            # JSON, or bytes of a declared media type (a recording).
            schemas = [media.get("schema") for media in response.get("content", {}).values()]
            if status == "204" or any(schema not in (None, {}) for schema in schemas):
                return True
    return False


def test_every_operation_has_a_unique_operation_id() -> None:
    ids = [op.get("operationId") for _, _, op in operations()]
    assert all(ids) and len(ids) == len(set(ids))
    assert "vox_v3_create_call" in ids and "zudu_create_phone_call" in ids


def test_success_responses_are_typed_and_errors_have_models() -> None:
    # A route declares its `response_model`: the dialect's shape as a pydantic model (as
    # `vox/schemas.py` does), checked against what it serves by the test at the end.
    untyped = {(m, p) for m, p, op in operations() if not _typed(op)}
    assert untyped == set(), "declare a response_model for these routes"
    for method, path, op in operations():
        if (method, path) in PUBLIC:
            continue
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        assert errors, (method, path)
        for status, response in errors.items():
            schema = response.get("content", {}).get("application/json", {}).get("schema", {})
            assert schema.get("$ref", "").split("/")[-1] != "HTTPValidationError", (method, path, status)


def test_schema_names_are_plain_and_unique() -> None:
    schemas = SPEC["components"]["schemas"]
    assert not [name for name in schemas if "__" in name]
    titles = [s.get("title", name) for name, s in schemas.items()]
    assert len(titles) == len(set(titles))
    assert {"ZuduCreatePhoneCall", "RetellCreatePhoneCall"} <= set(schemas)


def test_security_schemes_are_declared_on_every_authenticated_operation() -> None:
    assert SPEC["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key: `Bearer cp_…`"},
        "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
        "apiSecret": {"type": "apiKey", "in": "header", "name": "X-API-SECRET"},
    }
    for method, path, op in operations():
        if (method, path) in PUBLIC:
            assert "security" not in op
        elif path.startswith("/api/"):
            assert op["security"] == [{"apiKey": [], "apiSecret": []}], (method, path)  # both headers
        else:
            assert op["security"] == [{"bearer": []}], (method, path)


def test_docs_work_offline(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in page.text and "/docs/assets/swagger-ui.css" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.replace("https://fastapi", "")
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/docs/assets/{asset}").status_code == 200
    assert client.get("/redoc").status_code == 404


def test_a_generated_client_keeps_every_endpoint(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        message = f"openapi-python-client not installed at {GENERATOR} (make test installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    (tmp_path / "openapi.json").write_bytes(orjson.dumps(SPEC))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [
            *(str(GENERATOR), "generate", "--path", "openapi.json", "--meta", "none"),
            *("--output-path", "client", "--config", str(ROOT / "openapi-python-client.yaml")),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING" not in done.stdout + done.stderr, done.stdout + done.stderr
    generated = {p.stem for p in (tmp_path / "client" / "api").rglob("*.py") if p.stem != "__init__"}
    assert generated == {op["operationId"] for _, _, op in operations()}
    shutil.rmtree(tmp_path / "client")


def test_declared_models_describe_what_the_admin_routes_answer(client: TestClient, tenant: Tenant) -> None:
    """The handlers return pre-rendered JSON, so FastAPI does not check it against the declared
    model; this does, for every admin GET that needs no path parameter."""
    h = tenant.headers
    client.post("/admin/v1/suppressions", json={"number": "01099998888"}, headers=h)
    client.post("/admin/v1/webhook-endpoints", json={"url": "https://h.example.com/x"}, headers=h)
    app: FastAPI = client.app  # type: ignore[assignment]
    checked = 0
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path or ""
        if not isinstance(route, APIRoute) or "GET" not in route.methods or "{" in path:
            continue
        if not path.startswith("/admin/v1/") or route.response_model is None:
            continue
        served_as_declared(client, "GET", path, headers=h)
        checked += 1
    assert checked >= 7


def declared(app: FastAPI, method: str, path: str) -> Any:
    """The response model the route serving `method path` declares (None: untyped)."""
    scope = {"type": "http", "method": method, "path": path}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.matches(scope)[0] is Match.FULL:
            return route.response_model
    raise AssertionError(f"no route serves {method} {path}")


def served_as_declared(client: TestClient, method: str, url: str, **kwargs: Any) -> Any:
    """Request `url`; its body must be exactly the route's model: every field declared, of the
    declared type (strict), and nothing undeclared (validating and dumping it gives it back;
    a key the renderer leaves out for some objects is an optional field, left out again)."""
    response = client.request(method, url, **kwargs)
    assert response.status_code < 300, (method, url, response.text)
    model = declared(client.app, method, url.split("?")[0])  # type: ignore[arg-type]
    assert model is not None, (method, url)
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    body = response.json()
    again = adapter.dump_python(adapter.validate_python(body, strict=True), mode="json", exclude_unset=True)
    assert again == body, (method, url)
    return body


def test_declared_models_describe_what_the_dialect_routes_answer(
    client: TestClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    """Every typed dialect route, driven with a valid request, answers its declared model."""
    ids = [c.id for c in insert_every_shape(db, tenant).values()]
    bodies = valid_bodies(tenant, ids)
    checked: set[tuple[str, str]] = set()
    for (method, path), body in bodies.items():
        if declared(client.app, method, path) is None:  # type: ignore[arg-type]
            continue  # still on UNTYPED
        tag = next(t for t, m, p, _ in ENDPOINTS if (m, p) == (method, path))
        served_as_declared(client, method, path, json=body, headers=headers_for(tag, tenant, "good"))
        checked.add((method.lower(), path))
    for tag, method, path, _ in ENDPOINTS:
        if method == "GET" and "{call_id}" in path and declared(client.app, method, path) is not None:  # type: ignore[arg-type]
            for call_id in ids:  # every shape of call the store holds
                url = path.replace("{call_id}", call_id)
                served_as_declared(client, method, url, headers=headers_for(tag, tenant, "good"))
            checked.add((method.lower(), path))
    h = {"Authorization": f"Bearer {tenant.api_key}"}
    for call_id in ids:  # Vocode names the call in the query
        served_as_declared(client, "GET", f"/v1/calls?id={call_id}", headers=h)
        served_as_declared(client, "POST", f"/v1/calls/end?id={call_id}", headers=h)
    for url in ("/v1/calls/list", "/v1/calls/list?size=100&sort_desc=true"):
        served_as_declared(client, "GET", url, headers=h)
    pair = headers_for("Zudu", tenant, "good")
    for url in ("/api/calls", "/api/calls?limit=100&call_status=ENDED,ERROR"):
        served_as_declared(client, "GET", url, headers=pair)
    campaign = served_as_declared(client, "POST", "/v3/campaigns", json=campaign_body(tenant), headers=h)
    v3 = campaign_body(tenant)
    agent, call_from = v3.pop("agent"), v3.pop("from_number")
    v2 = {**v3, "call_from": call_from, "agent_id": agent["agent_id"]}
    served_as_declared(client, "POST", "/v2/campaigns", json=v2, headers=h)
    base = f"/v3/campaigns/{campaign['id']}"
    for method, url in [
        ("GET", "/v3/campaigns"),
        ("GET", base),
        ("GET", f"{base}/tasks"),
        ("POST", f"{base}/pause"),
        ("POST", f"{base}/resume"),
        ("POST", f"{base}/cancel"),
    ]:
        served_as_declared(client, method, url, headers=h)
    batch_body = bodies[("POST", "/create-batch-call")]
    batch = served_as_declared(client, "POST", "/create-batch-call", json=batch_body, headers=h)
    served_as_declared(client, "GET", f"/get-batch-call/{batch['batch_call_id']}", headers=h)
    write_csv(tmp_path / "rows.csv", 5)
    params = {"from_number": "07011112222", "name": "upload", "agent_id": tenant.agent_id}
    for dry_run in ("true", "false"):
        served_as_declared(
            client,
            "POST",
            "/admin/v1/campaigns/import",
            params={**params, "dry_run": dry_run},
            content=(tmp_path / "rows.csv").read_bytes(),
            headers={**h, "Content-Type": "text/csv"},
        )
    assert {("post", "/v3/calls"), ("get", "/v2/get-call/{call_id}"), ("post", "/v3/list-calls")} <= checked
