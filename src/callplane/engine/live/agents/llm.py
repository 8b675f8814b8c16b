"""The LLM runtime: an OpenAI-compatible chat-completions endpoint holds the conversation.

Each callee utterance becomes a `user` message; the model answers with text (spoken) and/or tool
calls (run, recorded, and fed back as `tool` messages, up to `max_tool_rounds` per turn). An
`end_call` tool is always offered, so the model can hang up. The endpoint failing — refused,
timing out, answering something that is not a chat completion — ends the call with status
`error` and reason `error_voxai` (a platform failure), with the cause in `error_detail` — after
429s, 5xx answers, timeouts and dropped connections were retried within the turn's budget
(`agents/retry.py`).

Answers are streamed (`stream: true`, server-sent events) and spoken sentence by sentence: the
first sentence plays while the model is still writing the rest. When the callee talks over the
answer, the stream is dropped, the history keeps only what the callee heard (so the model knows
where it was cut), and tool calls of that answer are not run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import httpx

from callplane.domain.call import DisconnectionReason
from callplane.domain.llm import LLMConfig
from callplane.domain.template import render
from callplane.domain.tools import ToolKind, ToolSpec
from callplane.engine.egress import DestinationRefused
from callplane.engine.live.agents.conversation import Conversation, EndCall, Ending
from callplane.engine.live.agents.retry import Retryable, RetryPolicy, Turn, status_failure, transport_failure
from callplane.engine.live.agents.sentences import SentenceSplitter
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
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 20.0,
        retry: RetryPolicy | None = None,
    ):
        self.http = http
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()

    async def complete(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec], temperature: float, **extra: Any
    ) -> Reply:
        body = self._body(messages, tools, temperature, **extra)
        turn = Turn(self.retry)
        while True:
            try:
                response = await self._post(body, turn)
                break
            except Retryable as exc:
                await self._again(turn, exc)
        try:
            message = response.json()["choices"][0]["message"]
            calls = tuple(
                ToolCall(c["id"], c["function"]["name"], _arguments(c["function"].get("arguments")))
                for c in message.get("tool_calls") or []
            )
            return Reply(message.get("content"), calls, message)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMUnavailable(f"not a chat completion from {self.url}: {exc!r}") from None

    async def _post(self, body: dict[str, Any], turn: Turn) -> httpx.Response:
        try:
            response = await self.http.post(
                self.url, json=body, headers=self.headers, timeout=self._timeout(turn)
            )
        except httpx.HTTPError as exc:
            raise self._transport(exc) from None
        if not response.is_success:
            raise self._status(response, response.text)
        return response

    async def stream(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec], temperature: float
    ) -> AsyncGenerator[str | Reply, None]:
        """The answer as it is written: text pieces, then the whole `Reply` (with its tool calls).

        Use under `contextlib.aclosing`, so that leaving early closes the HTTP stream. Failures
        are retried until the first piece is out; after that the callee has heard part of the
        answer and a second, different answer cannot follow it."""
        body = self._body(messages, tools, temperature, stream=True)
        turn = Turn(self.retry)
        while True:
            reply = _StreamedReply()
            spoken = False
            try:
                async with self.http.stream(
                    "POST", self.url, json=body, headers=self.headers, timeout=self._timeout(turn)
                ) as response:
                    if not response.is_success:
                        text = (await response.aread()).decode("utf-8", "replace")
                        raise self._status(response, text)
                    async for line in response.aiter_lines():
                        if not line.startswith("data:"):
                            continue  # blank separators, `: keep-alive` comments, `event:` lines
                        data = line[len("data:") :].strip()
                        if data == "[DONE]":
                            break
                        piece = reply.add(data, self.url)
                        if piece:
                            spoken = True
                            yield piece
                break
            except httpx.HTTPError as exc:
                failure = self._transport(exc)
                if spoken:
                    raise LLMUnavailable(str(failure)) from None
                await self._again(turn, failure)
            except Retryable as exc:
                await self._again(turn, exc)
        yield reply.finish(self.url)

    def _timeout(self, turn: Turn) -> float:
        # The first attempt gets the whole timeout, as before retries existed; a retry may not
        # outlast the turn's budget, but gets a moment even at the end of it.
        if turn.made == 0:
            return self.timeout_s
        return max(1.0, min(self.timeout_s, turn.remaining_s()))

    def _status(self, response: httpx.Response, text: str) -> Exception:
        message = f"HTTP {response.status_code} from {self.url}: {text[:200]}"
        return status_failure(response, message) or LLMUnavailable(message)

    def _transport(self, exc: httpx.HTTPError) -> Retryable | LLMUnavailable:
        if isinstance(exc, DestinationRefused):
            return LLMUnavailable(f"{exc}: {self.url}")
        message = f"{type(exc).__name__} calling {self.url}"
        return transport_failure(exc, message) or LLMUnavailable(message)

    async def _again(self, turn: Turn, failure: Exception) -> None:
        """Wait for the next attempt, or raise the failure as the turn's final one."""
        if not isinstance(failure, Retryable):
            raise failure
        try:
            await turn.failed(failure)
        except Retryable:
            raise LLMUnavailable(failure.message) from None

    def _body(
        self, messages: list[dict[str, Any]], tools: list[ToolSpec], temperature: float, **extra: Any
    ) -> dict[str, Any]:
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
        return body


class _StreamedReply:
    """Puts a chat.completion.chunk stream back together: content deltas, and tool calls whose
    id and name come first and whose arguments arrive in pieces, keyed by their `index`."""

    def __init__(self) -> None:
        self.content = ""
        self.calls: dict[int, dict[str, str]] = {}

    def add(self, data: str, url: str) -> str:
        try:
            choices = json.loads(data)["choices"]
            if not choices:  # a usage-only chunk
                return ""
            delta = choices[0].get("delta") or {}
            for call in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(
                    int(call.get("index", 0)), {"id": "", "name": "", "arguments": ""}
                )
                function = call.get("function") or {}
                slot["id"] = call.get("id") or slot["id"]
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""
            piece = delta.get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMUnavailable(f"not a chat completion chunk from {url}: {exc!r}") from None
        if not isinstance(piece, str):
            raise LLMUnavailable(f"not a chat completion chunk from {url}: content is not text")
        self.content += piece
        return piece

    def finish(self, url: str) -> Reply:
        try:
            calls = tuple(
                ToolCall(c["id"], c["name"], _arguments(c["arguments"]))
                for _, c in sorted(self.calls.items())
            )
        except (ValueError, TypeError) as exc:
            raise LLMUnavailable(f"bad tool call arguments from {url}: {exc!r}") from None
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for _, c in sorted(self.calls.items())
            ]
        return Reply(self.content or None, calls, message)


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
            reply, heard = await self._speak_answer(conv, messages)
            if heard is not None:  # the callee talked over it: what they heard is what was said
                messages.append({"role": "assistant", "content": heard})
                return
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

    async def _speak_answer(
        self, conv: Conversation, messages: list[dict[str, Any]]
    ) -> tuple[Reply, str | None]:
        """Stream one answer into speech, a sentence at a time; returns the reply, and what the
        callee heard of it when they interrupted (None when it was heard to the end)."""
        sentences = SentenceSplitter()
        reply = Reply(None, (), {})
        stream = self.client.stream(messages, list(self.specs.values()), self.config.temperature)
        async with aclosing(stream) as parts, conv.utterance() as utterance:
            async for part in parts:
                if isinstance(part, Reply):
                    reply = part
                    break
                for sentence in sentences.feed(part):
                    await utterance.add(sentence)
                if utterance.interrupted:
                    break
            await utterance.add(sentences.flush())
        return reply, utterance.heard if utterance.interrupted else None

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
