"""Typed request dependencies: `ServicesDep`, and the organisation a credential opens.

Credentials are checked here and nowhere else; the organisation id handlers receive comes only
from the credential, never from the request.

Threads: the credential lookup (one primary-key read) and the dialects' read endpoints are
`async` and query the database inline on the event loop. They are indexed and bounded (a count
has a time budget) and reads never wait for locks (SQLite WAL, PostgreSQL MVCC), while a hop to
the thread pool costs more than most of them (~0.6 ms measured per request). Endpoints that
write — and may wait for SQLite's single write lock — stay plain `def` and run in the pool.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import SQLAlchemyError

from callplane.api.ratelimit import limits_of
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


async def _authenticate(request: Request, services: Services, key: str, secret: str | None) -> str:
    limits = limits_of(request)
    await limits.before_credentials(request)
    now = services.clock.now_ms()
    try:
        with services.db.read() as conn:
            found = orgs.authenticate(conn, key, secret, now)
    except Unauthorized:
        await limits.credential_failed(request)
        raise
    await limits.admit(found.credential_id, found.organization_id)
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
    return await _authenticate(request, services, token.strip(), None)


async def key_secret_organization(request: Request, services: ServicesDep) -> str:
    key = request.headers.get("x-api-key", "").strip()
    secret = request.headers.get("x-api-secret", "").strip()
    if not key or not secret:
        raise Unauthorized("send both X-API-KEY and X-API-SECRET")
    return await _authenticate(request, services, key, secret)


BearerOrg = Annotated[str, Depends(bearer_organization)]
KeySecretOrg = Annotated[str, Depends(key_secret_organization)]
