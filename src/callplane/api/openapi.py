"""The OpenAPI document, made for client generators; and `/docs` from vendored assets.

Everything here is central, so routes added anywhere conform without edits of their own
(`tests/api/test_openapi.py` checks every route):

- **Operation ids** are `<tag>_<handler name>` (`vox_v3_create_call`, `zudu_list_calls`): stable,
  readable method names, unique across dialects that share handler names.
- **Schema names** are unique and plain. Two dialects may each define `CreatePhoneCall`;
  FastAPI then names both after their module path (`callplane__api__dialects__zudu__parse__
  CreatePhoneCall`), which generators mangle or drop (openapi-python-client dropped both Zudu
  POST endpoints). Such names become `<Dialect or module><Name>` (`ZuduCreatePhoneCall`).
- **Security schemes** come from the credential dependencies (`api/deps.py` declares them with
  FastAPI's security classes): `bearer` (`Authorization: Bearer`), and `apiKey` + `apiSecret`
  (`X-API-KEY` and `X-API-SECRET`, both required: one requirement, not two alternatives).
- **Error models**: each dialect's route class declares its error body for every error status
  (`DialectRoute.error_model`), in place of FastAPI's `HTTPValidationError`, which no dialect sends.

`/docs` is Swagger UI from the `swagger-ui-bundle` package's files, served by this app under
`/docs/assets/`: it works offline and sends nothing to a CDN.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
_QUALIFIED = re.compile(r"^(?:[A-Za-z0-9_]+__)+(?P<name>[A-Za-z0-9_]+)$")
_MODULE_NOISE = {"callplane", "api", "dialects", "parse", "routes", "schemas", "render", "errors"}


def operation_id(route: APIRoute) -> str:
    prefix = re.sub(r"[^a-z0-9]+", "_", str(route.tags[0]).lower()).strip("_") if route.tags else ""
    return f"{prefix}_{route.name}" if prefix else route.name


def _plain_name(qualified: str, taken: set[str]) -> str:
    """`callplane__api__dialects__zudu__parse__CreatePhoneCall` → `ZuduCreatePhoneCall`."""
    parts = qualified.split("__")
    name = parts[-1]
    context = [p for p in parts[:-1] if p not in _MODULE_NOISE]
    for depth in range(1, len(context) + 1):
        candidate = "".join(p.title().replace("_", "") for p in context[:depth]) + name
        if candidate not in taken:
            return candidate
    return qualified  # cannot happen with distinct module paths; a test would see the `__`


def _rename_schemas(doc: dict[str, Any]) -> None:
    schemas: dict[str, Any] = doc.get("components", {}).get("schemas", {})
    taken = {n for n in schemas if not _QUALIFIED.match(n)}
    renames: dict[str, str] = {}
    for name in sorted(schemas):
        if _QUALIFIED.match(name):
            plain = _plain_name(name, taken)
            taken.add(plain)
            renames[name] = plain
    if not renames:
        return
    doc["components"]["schemas"] = {renames.get(k, k): v for k, v in schemas.items()}
    for old, new in renames.items():
        schemas[old]["title"] = new  # generators name classes after the title
    refs = {f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in renames.items()}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref in refs:
                node["$ref"] = refs[ref]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)


def _merge_key_pair(doc: dict[str, Any]) -> None:
    """FastAPI lists each security dependency as an alternative; the key pair needs both."""
    for methods in doc.get("paths", {}).values():
        for op in methods.values():
            security = op.get("security")
            if not security:
                continue
            names = {n for requirement in security for n in requirement}
            if {"apiKey", "apiSecret"} <= names:
                op["security"] = [{"apiKey": [], "apiSecret": []}]


def install(app: FastAPI) -> None:
    """Replace `app.openapi` with the generator-friendly document, and serve `/docs` offline."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            _rename_schemas(doc)
            _merge_key_pair(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )

    app.add_route("/docs", docs, include_in_schema=False)
