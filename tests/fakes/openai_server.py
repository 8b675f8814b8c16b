"""A local fake of the OpenAI chat-completions endpoint, speaking its real wire protocol.

`FakeLLM(script)` answers each POST /v1/chat/completions with `script(messages, tools)` — an
assistant message dict — wrapped in a real chat.completion envelope, and records every request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

Message = dict[str, Any]
Script = Callable[[list[Message], list[dict[str, Any]]], Message]


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class FakeLLM:
    def __init__(self, script: Script, *, status: int = 200, api_key: str | None = None) -> None:
        self.script = script
        self.status = status
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])

    async def complete(self, request: Request) -> JSONResponse:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return JSONResponse(
                {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}, 401
            )
        body = await request.json()
        self.requests.append(body)
        if self.status != 200:
            return JSONResponse(
                {"error": {"message": "The server had an error", "type": "server_error"}}, self.status
            )
        message = {
            "role": "assistant",
            "content": None,
            **self.script(body["messages"], body.get("tools", [])),
        }
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
