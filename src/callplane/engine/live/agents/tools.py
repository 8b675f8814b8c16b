"""Running tools during a call, and recording each call and result in the transcript.

HTTP tools are customer webhooks: they get the arguments as JSON, a hard timeout, no redirects,
and a capped response. The client they are given is `engine.egress.guarded_client`, so a tool
never reaches an internal address (an agent file must not become a way into the machine's own
network); such a tool fails with "destination not allowed".
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from callplane.domain.call import DisconnectionReason
from callplane.domain.template import render
from callplane.domain.tools import ToolKind, ToolSpec
from callplane.engine.egress import DestinationRefused
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
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http  #: an egress-guarded client

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
        except DestinationRefused as exc:
            raise ToolFailed(str(exc)) from None
        except httpx.HTTPError as exc:
            raise ToolFailed(f"request failed: {type(exc).__name__}") from None
        body = response.text[:MAX_RESULT_CHARS]
        if not response.is_success:
            raise ToolFailed(f"HTTP {response.status_code}: {body}")
        return body
