"""The LLM runtime: an OpenAI-compatible chat-completions endpoint holds the conversation.

Each callee utterance becomes a `user` message; the model answers with text (spoken) and/or tool
calls (run, recorded, and fed back as `tool` messages, up to `max_tool_rounds` per turn). An
`end_call` tool is always offered, so the model can hang up. The endpoint failing — refused,
timing out, answering something that is not a chat completion — ends the call with status
`error` and reason `error_voxai` (a platform failure), with the cause in `error_detail`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from callplane.domain.call import DisconnectionReason
from callplane.domain.llm import LLMConfig
from callplane.domain.template import render
from callplane.domain.tools import ToolKind, ToolSpec
from callplane.engine.live.agents.conversation import Conversation, EndCall, Ending
from callplane.engine.live.agents.tools import ToolFailed, ToolRunner

END_CALL = ToolSpec(
    name="end_call",
    kind=ToolKind.END_CALL,
    description="Hang up. Call it after saying goodbye, or when the callee asks to end the call.",
)


class LLMUnavailable(Exception):
    """The chat endpoint could not produce an answer."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Reply:
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    raw: dict[str, Any]


class ChatClient:
    """The two parts of the OpenAI chat-completions protocol we need: messages in, reply out."""

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str | None, model: str, timeout_s: float = 20.0
    ):
        self.http = http
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self.timeout_s = timeout_s

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec], temperature: float, **extra: Any
    ) -> Reply:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": temperature,
            **extra,
        }
        if tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.parameters),
                    },
                }
                for t in tools
            ]
        try:
            response = await self.http.post(self.url, json=body, headers=self.headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"{type(exc).__name__} calling {self.url}") from None
        if not response.is_success:
            raise LLMUnavailable(f"HTTP {response.status_code} from {self.url}: {response.text[:200]}")
        try:
            message = response.json()["choices"][0]["message"]
            calls = tuple(
                ToolCall(c["id"], c["function"]["name"], _arguments(c["function"].get("arguments")))
                for c in message.get("tool_calls") or []
            )
            return Reply(message.get("content"), calls, message)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMUnavailable(f"not a chat completion from {self.url}: {exc!r}") from None


def _arguments(raw: object) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    value = json.loads(raw) if isinstance(raw, str) else raw
    if not isinstance(value, dict):
        raise TypeError("tool arguments are not a JSON object")
    return value


class LLMRuntime:
    def __init__(self, config: LLMConfig, client: ChatClient, tools: ToolRunner) -> None:
        self.config = config
        self.client = client
        self.tools = tools
        specs = dict(config.tools)
        if not any(s.kind is ToolKind.END_CALL for s in specs.values()):
            specs[END_CALL.name] = END_CALL
        self.specs = specs

    def initial_variables(self, dynamic_variables: dict[str, Any]) -> dict[str, Any]:
        return dict(dynamic_variables)

    async def run(self, conv: Conversation) -> Ending:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": render(self.config.prompt, conv.variables)}
        ]
        try:
            if self.config.first_message:
                opening = render(self.config.first_message, conv.variables)
                await conv.say(opening)
                messages.append({"role": "assistant", "content": opening})
            else:
                await self._respond(conv, messages)
            reprompt = render(self.config.reprompt, conv.variables) if self.config.reprompt else None
            while True:
                messages.append({"role": "user", "content": await conv.hear(reprompt)})
                await self._respond(conv, messages)
        except LLMUnavailable as exc:
            raise EndCall(DisconnectionReason.ERROR_VOXAI, str(exc)) from None

    async def _respond(self, conv: Conversation, messages: list[dict[str, Any]]) -> None:
        for _ in range(self.config.max_tool_rounds):
            reply = await self.client.complete(messages, list(self.specs.values()), self.config.temperature)
            if reply.content:
                await conv.say(reply.content)
            if not reply.tool_calls:
                messages.append({"role": "assistant", "content": reply.content or ""})
                return
            messages.append(
                {
                    "role": "assistant",
                    "content": reply.content,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                        }
                        for c in reply.tool_calls
                    ],
                }
            )
            for call in reply.tool_calls:
                messages.append(
                    {"role": "tool", "tool_call_id": call.id, "content": await self._use(conv, call)}
                )
        raise EndCall(
            DisconnectionReason.ERROR_VOXAI,
            f"the model called tools {self.config.max_tool_rounds} times in a row",
        )

    async def _use(self, conv: Conversation, call: ToolCall) -> str:
        spec = self.specs.get(call.name)
        if spec is None:
            tool_call_id = conv.tool_invoked(call.name, call.arguments)
            conv.tool_returned(tool_call_id, f"unknown tool {call.name!r}", ok=False)
            return f"error: there is no tool named {call.name!r}"
        if call.arguments:
            conv.collect(call.arguments)
        try:
            return await self.tools.call(conv, spec, call.arguments)
        except ToolFailed as exc:
            return f"error: {exc}"
