"""Typed request dependencies: `ServicesDep`, and the organisation a credential opens.

Credentials are checked here and nowhere else; the organisation id handlers receive comes only
from the credential, never from the request.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends, Request
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


def _authenticate(services: Services, key: str, secret: str | None) -> str:
    now = services.clock.now_ms()
    with services.db.read() as conn:
        found = orgs.authenticate(conn, key, secret, now)
    if found.needs_touch:
        # Best effort: a busy database must not fail the request over a "last used" stamp.
        try:
            with services.db.write() as conn:
                orgs.touch_credential(conn, found.credential_id, now)
        except SQLAlchemyError:
            log.warning("could not record last use of credential %s", found.credential_id)
    return found.organization_id


def bearer_organization(request: Request, services: ServicesDep) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the organization's API key as 'Authorization: Bearer <key>'")
    return _authenticate(services, token.strip(), None)


def key_secret_organization(request: Request, services: ServicesDep) -> str:
    key = request.headers.get("x-api-key", "").strip()
    secret = request.headers.get("x-api-secret", "").strip()
    if not key or not secret:
        raise Unauthorized("send both X-API-KEY and X-API-SECRET")
    return _authenticate(services, key, secret)


BearerOrg = Annotated[str, Depends(bearer_organization)]
KeySecretOrg = Annotated[str, Depends(key_secret_organization)]
