"""Running tools during a call, and recording each call and result in the transcript.

HTTP tools are customer webhooks: they get the arguments as JSON, a hard timeout, no redirects,
a capped response, and — unless `allow_private` — a refusal when the host resolves to a
loopback, private, link-local or otherwise non-global address (an agent file must not become a
way to reach the machine's own network). The address is checked when the tool runs; a DNS
answer that changes between the check and the connection is outside this guard, so production
setups should also send tool traffic through an egress proxy.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from callplane.domain.call import DisconnectionReason
from callplane.domain.template import render
from callplane.domain.tools import ToolKind, ToolSpec
from callplane.engine.live.agents.conversation import Conversation, EndCall

MAX_RESULT_CHARS = 4000


class ToolFailed(Exception):
    """The tool ran and failed; its message is what the transcript records as the result."""


def _render_value(value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str):
        return render(value, variables)
    if isinstance(value, dict):
        return {k: _render_value(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_value(v, variables) for v in value]
    return value


def render_arguments(arguments: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    rendered: dict[str, Any] = _render_value(arguments, variables)
    return rendered


class ToolRunner:
    def __init__(self, http: httpx.AsyncClient, *, allow_private: bool = False) -> None:
        self.http = http
        self.allow_private = allow_private

    async def call(self, conv: Conversation, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        """Run a tool and record it. Raises ToolFailed (recorded) or EndCall for end/transfer tools."""
        tool_call_id = conv.tool_invoked(spec.name, arguments)
        try:
            content = await self._run(conv, spec, arguments)
        except ToolFailed as exc:
            conv.tool_returned(tool_call_id, str(exc), ok=False)
            raise
        except EndCall as end:
            conv.tool_returned(tool_call_id, end.ending.reason.value, ok=True)
            raise
        conv.tool_returned(tool_call_id, content, ok=True)
        return content

    async def _run(self, conv: Conversation, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        if spec.kind is ToolKind.STATIC:
            result = _render_value(spec.result, {**conv.variables, **arguments})
            return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        if spec.kind is ToolKind.END_CALL:
            raise EndCall(DisconnectionReason.AGENT_HANGUP, "end_call tool")
        if spec.kind is ToolKind.TRANSFER_CALL:
            assert spec.number is not None
            if await conv.transfer(spec.number):
                raise EndCall(DisconnectionReason.CALL_TRANSFER, f"transferred to {spec.number}")
            raise ToolFailed("the transfer was not accepted")
        return await self._http(spec, arguments)

    async def _http(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        assert spec.url is not None
        if not self.allow_private:
            await _refuse_private(spec.url)
        try:
            if spec.method == "GET":
                response = await self.http.get(
                    spec.url, params=arguments, headers=dict(spec.headers), timeout=spec.timeout_s
                )
            else:
                response = await self.http.request(
                    spec.method, spec.url, json=arguments, headers=dict(spec.headers), timeout=spec.timeout_s
                )
        except httpx.TimeoutException:
            raise ToolFailed(f"timed out after {spec.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise ToolFailed(f"request failed: {type(exc).__name__}") from None
        body = response.text[:MAX_RESULT_CHARS]
        if not response.is_success:
            raise ToolFailed(f"HTTP {response.status_code}: {body}")
        return body


async def _refuse_private(url: str) -> None:
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise ToolFailed(f"cannot resolve {host}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not address.is_global:
            raise ToolFailed(f"{host} resolves to a non-public address; tool calls there are not allowed")
