"""A local fake of the OpenAI chat-completions endpoint, speaking its real wire protocol.

`FakeLLM(script)` answers each POST /v1/chat/completions with `script(messages, tools)` — an
assistant message dict — wrapped in a real chat.completion envelope, and records every request.
Asked with `stream: true`, it streams the same message as server-sent `chat.completion.chunk`s
the way OpenAI does: the content a few characters per chunk, each tool call first with its id
and name and then its arguments in pieces, a last chunk with `finish_reason`, then
`data: [DONE]`. `between(n)`, if given, runs (in the server's thread) before the n-th content
chunk is sent, so a test can hold the stream open at a chosen point. `failures` are answered,
in order, before any of that: each a status code and its headers (a 429 with `Retry-After`, a
503), with OpenAI's error body.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Message = dict[str, Any]
Script = Callable[[list[Message], list[dict[str, Any]]], Message]
CHUNK_CHARS = 4


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class FakeLLM:
    def __init__(
        self,
        script: Script,
        *,
        status: int = 200,
        api_key: str | None = None,
        between: Callable[[int], None] | None = None,
        failures: Sequence[tuple[int, dict[str, str]]] = (),
    ) -> None:
        self.script = script
        self.status = status
        self.api_key = api_key
        self.between = between
        self.failures = list(failures)
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])

    async def complete(self, request: Request) -> Response:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, 401
            )
        body = await request.json()
        self.requests.append(body)
        if self.failures:
            status, headers = self.failures.pop(0)
            kind = "rate_limit_exceeded" if status == 429 else "server_error"
            return JSONResponse({"error": {"message": f"failure {status}", "type": kind}}, status, headers)
        if self.status != 200:
            return JSONResponse(
                {"error": {"message": "The server had an error", "type": "server_error"}}, self.status
            )
        message = {
            "role": "assistant",
            "content": None,
            **self.script(body["messages"], body.get("tools", [])),
        }
        if body.get("stream"):
            return StreamingResponse(self._chunks(body["model"], message), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            }
        )

    async def _chunks(self, model: str, message: Message) -> AsyncIterator[str]:
        envelope = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            return f"data: {json.dumps({**envelope, 'choices': [choice]}, ensure_ascii=False)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        content = message.get("content") or ""
        for n, start in enumerate(range(0, len(content), CHUNK_CHARS)):
            if self.between is not None:
                await run_in_threadpool(self.between, n)
            yield chunk({"content": content[start : start + CHUNK_CHARS]})
        for index, call in enumerate(message.get("tool_calls") or []):
            head = {"index": index, "id": call["id"], "type": "function"}
            yield chunk(
                {"tool_calls": [{**head, "function": {"name": call["function"]["name"], "arguments": ""}}]}
            )
            arguments = call["function"]["arguments"]
            for start in range(0, len(arguments), CHUNK_CHARS):
                piece = arguments[start : start + CHUNK_CHARS]
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        yield chunk({}, "tool_calls" if message.get("tool_calls") else "stop")
        yield "data: [DONE]\n\n"
