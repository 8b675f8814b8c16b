"""Typed request dependencies: `ServicesDep`, and the organisation a credential opens.

Credentials are checked here and nowhere else; the organisation id handlers receive comes only
from the credential, never from the request.

Threads: no database work runs on the event loop. The credential lookup runs in the thread
pool, and every endpoint is a plain `def` (FastAPI runs it there). A hop to the pool costs
~0.6 ms a request, but a read on the loop stalls every other request for as long as it runs:
one tenant's heaviest allowed list would then be every tenant's latency
(tests/api/test_isolation.py measures the difference).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from callplane.api.services import Services
from callplane.domain.errors import Unauthorized
from callplane.store import orgs

log = logging.getLogger(__name__)


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request for a
    # lookup that does no I/O.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def _lookup(services: Services, key: str, secret: str | None, now: int) -> orgs.Authenticated:
    with services.db.read() as conn:
        return orgs.authenticate(conn, key, secret, now)


async def _authenticate(services: Services, key: str, secret: str | None) -> str:
    now = services.clock.now_ms()
    found = await run_in_threadpool(_lookup, services, key, secret, now)
    if found.needs_touch:
        # The "last used" stamp is a write: off the loop, and not awaited by the request.
        asyncio.get_running_loop().run_in_executor(None, _touch, services, found.credential_id, now)
    return found.organization_id


def _touch(services: Services, credential_id: str, now: int) -> None:
    # Best effort: a busy database must not fail anything over a "last used" stamp.
    try:
        with services.db.write() as conn:
            orgs.touch_credential(conn, credential_id, now)
    except SQLAlchemyError:
        log.warning("could not record last use of credential %s", credential_id)


async def bearer_organization(request: Request, services: ServicesDep) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the organization's API key as 'Authorization: Bearer <key>'")
    return await _authenticate(services, token.strip(), None)


async def key_secret_organization(request: Request, services: ServicesDep) -> str:
    key = request.headers.get("x-api-key", "").strip()
    secret = request.headers.get("x-api-secret", "").strip()
    if not key or not secret:
        raise Unauthorized("send both X-API-KEY and X-API-SECRET")
    return await _authenticate(services, key, secret)


BearerOrg = Annotated[str, Depends(bearer_organization)]
KeySecretOrg = Annotated[str, Depends(key_secret_organization)]
