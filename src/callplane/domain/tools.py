"""Tools an agent can call, shared by flows and LLM agents.

- `static`: answers with a fixed JSON `result` in which `{{variables}}` are substituted — for
  demos, tests and lookups that never change;
- `http`: a webhook — POST (or `method`) the arguments as JSON to `url`, answer with the
  response body; bounded by `timeout_s`; internal addresses are refused (engine/egress.py);
- `end_call`: the agent hangs up (`agent_hangup`);
- `transfer_call`: hand the callee to `number` (`call_transfer`).

`parameters` is the JSON Schema of the arguments an LLM agent is told to send.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callplane.domain.errors import ValidationFailed
from callplane.domain.phone import parse_any


class ToolKind(enum.StrEnum):
    STATIC = "static"
    HTTP = "http"
    END_CALL = "end_call"
    TRANSFER_CALL = "transfer_call"

    @property
    def ends_call(self) -> bool:
        return self in (ToolKind.END_CALL, ToolKind.TRANSFER_CALL)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    kind: ToolKind
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    result: Any = None
    url: str | None = None
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 5.0
    number: str | None = None  #: E.164, for transfer_call


def parse_tools(raw: object, where: str) -> dict[str, ToolSpec]:
    if not isinstance(raw, dict):
        raise ValidationFailed.single(where, "must be an object of named tools")
    return {name: _tool(name, spec, f"{where}.{name}") for name, spec in raw.items()}


def _tool(name: str, spec: object, where: str) -> ToolSpec:
    if not name.replace("_", "").replace("-", "").isalnum() or len(name) > 64:
        raise ValidationFailed.single(where, "tool names use letters, digits, _ and - (at most 64)")
    if not isinstance(spec, dict):
        raise ValidationFailed.single(where, "must be an object")
    try:
        kind = ToolKind(str(spec.get("type")))
    except ValueError:
        raise ValidationFailed.single(f"{where}.type", "is required", [k.value for k in ToolKind]) from None
    description = spec.get("description", "")
    parameters = spec.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(description, str) or not isinstance(parameters, dict):
        raise ValidationFailed.single(where, "description must be text and parameters a JSON Schema object")
    common: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "description": description,
        "parameters": parameters,
    }
    if kind is ToolKind.STATIC:
        if "result" not in spec:
            raise ValidationFailed.single(f"{where}.result", "a static tool needs a result")
        return ToolSpec(**common, result=spec["result"])
    if kind is ToolKind.HTTP:
        url = spec.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValidationFailed.single(f"{where}.url", "must be an http(s) URL")
        method = spec.get("method", "POST")
        if method not in ("GET", "POST", "PUT", "PATCH"):
            raise ValidationFailed.single(
                f"{where}.method", "is not allowed", ["GET", "POST", "PUT", "PATCH"]
            )
        timeout = spec.get("timeout_s", 5.0)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0.1 <= timeout <= 30:
            raise ValidationFailed.single(f"{where}.timeout_s", "must be between 0.1 and 30 seconds")
        headers = spec.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ValidationFailed.single(f"{where}.headers", "must map names to strings")
        return ToolSpec(**common, url=url, method=method, headers=headers, timeout_s=float(timeout))
    if kind is ToolKind.TRANSFER_CALL:
        return ToolSpec(**common, number=parse_any(spec.get("number"), f"{where}.number"))
    return ToolSpec(**common)
