"""Request ids, the access log and HTTP metrics (one ASGI middleware), and `GET /metrics`.

Every request gets an id: the client's `X-Request-ID` when it is safe to log and echo (at most
128 characters of `A-Za-z0-9._:+/=@-`), else a new one. It is returned in the response's
`X-Request-ID`, set on every log line written while the request runs (`engine.logcontext`), stored
on a call the request creates, and from there written on the worker's log lines for that call.

The access log line and `callplane_http_request_duration_seconds` name the route template
(`/v3/calls/{call_id}`), never the raw path, so neither grows with ids; a request no route
matched is `unmatched`.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callplane.engine import logcontext, metrics

access_log = logging.getLogger("callplane.access")

router = APIRouter(tags=["Health"], include_in_schema=False)


@router.get("/metrics")
def prometheus_metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST)


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContext:
    """Pure ASGI (no response buffering, streaming untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = logcontext.accept_request_id(given)
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        started = time.perf_counter()
        token = logcontext.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            metrics.http_duration.labels(scope["method"], route, str(status)).observe(elapsed)
            access_log.info(
                "%s %s %d %.1f ms",
                scope["method"],
                route,
                status,
                elapsed * 1000,
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 1),
                },
            )
            logcontext.request_id.reset(token)
