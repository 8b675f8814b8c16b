"""HTTP webhook tools in flows: results, failures, timeouts and the private-address guard."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from callplane.config import Settings
from callplane.domain.call import DisconnectionReason
from tests.engine.live.conversation_kit import a_call, conduct, version_of
from tests.fakes.server import serve_in_thread

received: list[dict[str, Any]] = []


async def lookup(request: Request) -> Response:
    received.append(await request.json())
    return JSONResponse({"balance": "12,000원", "due": "5월 10일"})


async def broken(request: Request) -> Response:
    return JSONResponse({"error": "database down"}, status_code=503)


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return JSONResponse({})


crm = Starlette(
    routes=[
        Route("/lookup", lookup, methods=["POST"]),
        Route("/broken", broken, methods=["POST"]),
        Route("/slow", slow, methods=["POST"]),
    ]
)


def tool_flow(url: str, *, on_error: bool = False, timeout_s: float = 1.0) -> dict[str, Any]:
    node: dict[str, Any] = {
        "type": "tool",
        "tool": "crm",
        "arguments": {"customer": "{{customer_name}}"},
        "next": "ok",
    }
    nodes: dict[str, Any] = {
        "check": node,
        "ok": {"type": "end", "say": "확인했습니다."},
    }
    if on_error:
        node["on_error"] = "sorry"
        nodes["sorry"] = {"type": "end", "say": "지금은 확인이 어렵습니다."}
    return {
        "name": "tool flow",
        "type": "flow",
        "flow": {
            "start": "check",
            "tools": {"crm": {"type": "http", "url": url, "timeout_s": timeout_s}},
            "nodes": nodes,
        },
    }


def results(outcome: Any) -> list[dict[str, Any]]:
    return [e for e in outcome.transcript if e["role"] == "tool_call_result"]


ALLOW = Settings(allow_private_destinations=True)


def test_http_tool_posts_arguments_and_records_the_response() -> None:
    received.clear()
    with serve_in_thread(crm) as url:
        outcome, _ = conduct(
            a_call(), version_of(tool_flow(f"{url}/lookup")), settings=ALLOW, speed=100, virtual=False
        )
    assert outcome.reason is DisconnectionReason.AGENT_HANGUP
    assert received == [{"customer": "홍길동"}]
    assert results(outcome)[0]["successful"] is True and "12,000원" in results(outcome)[0]["content"]


def test_failing_tool_takes_on_error_or_breaks_the_flow() -> None:
    with serve_in_thread(crm) as url:
        handled, _ = conduct(
            a_call(),
            version_of(tool_flow(f"{url}/broken", on_error=True)),
            settings=ALLOW,
            speed=100,
            virtual=False,
        )
        unhandled, _ = conduct(
            a_call(), version_of(tool_flow(f"{url}/broken")), settings=ALLOW, speed=100, virtual=False
        )
    assert handled.reason is DisconnectionReason.AGENT_HANGUP
    assert results(handled)[0]["successful"] is False and "HTTP 503" in results(handled)[0]["content"]
    assert unhandled.reason is DisconnectionReason.FLOW_ERROR and "HTTP 503" in (unhandled.error_detail or "")


def test_tool_timeout_is_a_tool_failure() -> None:
    with serve_in_thread(crm) as url:
        outcome, _ = conduct(
            a_call(),
            version_of(tool_flow(f"{url}/slow", timeout_s=0.2)),
            settings=ALLOW,
            speed=100,
            virtual=False,
        )
    assert outcome.reason is DisconnectionReason.FLOW_ERROR
    assert "timed out" in results(outcome)[0]["content"]


def test_private_addresses_are_refused_by_default() -> None:
    received.clear()
    with serve_in_thread(crm) as url:
        outcome, _ = conduct(
            a_call(), version_of(tool_flow(f"{url}/lookup", on_error=True)), speed=100, virtual=False
        )
    assert received == []  # the request never left
    assert results(outcome)[0]["content"] == "destination not allowed"
