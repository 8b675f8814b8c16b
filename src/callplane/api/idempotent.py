"""`IdempotentRequest`: the `Idempotency-Key` header of an admin create, and running the create
under it (the rules are `engine.services.idempotency`'s).

A route takes `idem: IdempotentRequest` and returns `idem.run(org, lambda: ...)`. Without the
header the create simply runs. With it, the first request runs and its response is stored; a
repeat gets that response again with `Idempotent-Replayed: true` (Stripe's header).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Header, Request, Response

from callplane.api.deps import ServicesDep
from callplane.api.dialects.common import idempotency_key as checked_key
from callplane.api.responses import JSON
from callplane.engine.services.idempotency import RequestIdempotency, fingerprint


@dataclass(frozen=True)
class Idempotent:
    key: str | None
    fingerprint: str
    service: RequestIdempotency

    def run(
        self, organization_id: str, create: Callable[[], JSON], *, secrets: Sequence[str] = ()
    ) -> Response:
        """`create()`, at most once per key. `secrets`: top-level response fields shown once,
        which are not stored (a replay of such a response is a 409; see engine.services.idempotency)."""
        if self.key is None:
            return create()
        stored = self.service.begin(organization_id, self.key, self.fingerprint)
        if stored is not None:
            return Response(
                stored.body,
                status_code=stored.status_code,
                media_type=JSON.media_type,
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            response = create()
        except BaseException:
            self.service.release(organization_id, self.key)
            raise
        body = bytes(response.body)
        if secrets:
            kept = {k: v for k, v in orjson.loads(body).items() if k not in secrets}
            body = orjson.dumps(kept)
        self.service.finish(
            organization_id, self.key, response.status_code, body, secret_withheld=bool(secrets)
        )
        return response


def _parsed(raw: bytes) -> Any:
    # The fingerprint compares what the client meant, not its bytes; a body that is no JSON
    # fails the route's own parsing anyway, and is fingerprinted as it is.
    try:
        return json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


async def idempotent_request(
    request: Request,
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Idempotent:
    checked_key(idempotency_key, "Idempotency-Key")
    request_print = ""
    if idempotency_key is not None:
        request_print = fingerprint(request.method, request.url.path, _parsed(await request.body()))
    return Idempotent(idempotency_key, request_print, RequestIdempotency(services.db, services.clock.now_ms))


IdempotentRequest = Annotated[Idempotent, Depends(idempotent_request)]
