"""A customer's webhook receiver on loopback: records every POST, answers as scripted.

`WebhookReceiver(fail_first=2)` answers the first two attempts of each `webhook-id` (per path)
with 500 and later ones with 204; `answer(path, webhook_id, attempt)` replaces that policy with
any status and headers. Each
request is kept with its headers and raw body so tests can verify the Standard Webhooks
signature over exactly the bytes that arrived.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Answer = Callable[[str, str, int], tuple[int, dict[str, str]]]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  #: what the receiver answered

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    def json(self) -> Any:
        return orjson.loads(self.body)


class WebhookReceiver:
    def __init__(
        self, *, fail_first: int = 0, failure_status: int = 500, answer: Answer | None = None
    ) -> None:
        self.fail_first = fail_first
        self.failure_status = failure_status
        self.answer = answer
        self._lock = threading.Lock()
        self._seen: Counter[tuple[str, str]] = Counter()
        self._received: list[Received] = []
        self.app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        webhook_id = headers.get("webhook-id", "")
        with self._lock:
            self._seen[(request.url.path, webhook_id)] += 1
            attempt = self._seen[(request.url.path, webhook_id)]
        if self.answer is not None:
            status, extra = self.answer(request.url.path, webhook_id, attempt)
        else:
            status, extra = (self.failure_status, {}) if attempt <= self.fail_first else (204, {})
        with self._lock:
            self._received.append(Received(request.url.path, headers, body, status))
        return Response(status_code=status, headers=extra)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """The accepted events, each checked against its signature (raises when one is bad)."""
        out = []
        for r in self.accepted():
            payload = Webhook(secret).verify(r.body, r.headers)
            out.append(payload)
        return out
