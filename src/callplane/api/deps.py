"""Typed request dependencies: `ServicesDep`, and the principal a credential opens.

Credentials are checked here and nowhere else; the organisation id handlers receive comes only
from the credential, never from the request. Each route names the scope it needs in its
parameter's type (`CallsWrite`, `NumbersAdmin`, …); a valid key without it is a 403 in the
route's dialect. The scopes come in the same row as the key's hash, so checking one costs no query.

Threads: no database work runs on the event loop. The credential lookup runs in the thread
pool, and every endpoint is a plain `def` (FastAPI runs it there). A hop to the pool costs
~0.6 ms a request, but a read on the loop stalls every other request for as long as it runs:
one tenant's heaviest allowed list would then be every tenant's latency
(tests/api/test_isolation.py measures the difference).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from callplane.api.ratelimit import limits_of
from callplane.api.services import Services
from callplane.domain.call import Call
from callplane.domain.errors import Unauthorized
from callplane.domain.principal import Principal, Scope
from callplane.store import orgs

log = logging.getLogger(__name__)


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in the thread pool, a hop per request for a
    # lookup that does no I/O.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def recording_links(request: Request, services: ServicesDep) -> Callable[[Call], Call]:
    """Calls as dialects render them: `recording_url` minted (signed, expiring) against the
    deployment's public address — `CALLPLANE_PUBLIC_URL`, else the address this request came to."""
    return services.recordings.linked(str(request.base_url))


#: `linked(call)`: the call with its `recording_url` for this response.
Linked = Annotated[Callable[[Call], Call], Depends(recording_links)]


def _lookup(services: Services, key: str, secret: str | None, now: int) -> orgs.Authenticated:
    # A read is safe to run again: a connection the database dropped is not an auth failure.
    return services.db.read_retrying(lambda conn: orgs.authenticate(conn, key, secret, now))


async def _authenticate(request: Request, services: Services, key: str, secret: str | None) -> Principal:
    limits = limits_of(request)
    await limits.before_credentials(request)
    now = services.clock.now_ms()
    try:
        found = await run_in_threadpool(_lookup, services, key, secret, now)
    except Unauthorized:
        await limits.credential_failed(request)
        raise
    await limits.admit(found.principal.credential_id, found.principal.organization_id)
    if found.needs_touch:
        # The "last used" stamp is a write: off the loop, and not awaited by the request.
        asyncio.get_running_loop().run_in_executor(None, _touch, services, found.principal.credential_id, now)
    return found.principal


def _touch(services: Services, credential_id: str, now: int) -> None:
    # Best effort: a busy database must not fail anything over a "last used" stamp.
    try:
        with services.db.write() as conn:
            orgs.touch_credential(conn, credential_id, now)
    except SQLAlchemyError:
        log.warning("could not record last use of credential %s", credential_id)


# Declared for the OpenAPI document (security schemes that generated clients fill in); they never
# refuse a request themselves: the principal dependencies below read the headers and answer a
# missing or wrong credential with the dialect's own 401.
BEARER = HTTPBearer(auto_error=False, scheme_name="bearer", description="An API key: `Bearer cp_…`")
API_KEY = APIKeyHeader(name="X-API-KEY", auto_error=False, scheme_name="apiKey")
API_SECRET = APIKeyHeader(name="X-API-SECRET", auto_error=False, scheme_name="apiSecret")
DeclaresBearer = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)]


async def bearer_principal(request: Request, services: ServicesDep, _declared: DeclaresBearer) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the organization's API key as 'Authorization: Bearer <key>'")
    return await _authenticate(request, services, token.strip(), None)


async def key_secret_principal(
    request: Request,
    services: ServicesDep,
    _key: Annotated[str | None, Security(API_KEY)],
    _secret: Annotated[str | None, Security(API_SECRET)],
) -> Principal:
    key = request.headers.get("x-api-key", "").strip()
    secret = request.headers.get("x-api-secret", "").strip()
    if not key or not secret:
        raise Unauthorized("send both X-API-KEY and X-API-SECRET")
    return await _authenticate(request, services, key, secret)


Authenticate = Callable[..., Awaitable[Principal]]


def requires(
    scope: Scope, credential: Authenticate = bearer_principal
) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the principal of a valid `credential` holding `scope`, else 403."""

    # A default, not `Annotated`: with postponed annotations FastAPI could not resolve the
    # closure's `credential` from a string.
    async def dependency(principal: Principal = Depends(credential)) -> Principal:  # noqa: B008
        principal.require(scope)
        return principal

    return dependency


def organization_of(
    scope: Scope, credential: Authenticate = bearer_principal
) -> Callable[..., Awaitable[str]]:
    """Like `requires`, for handlers that need only the organisation id (every dialect's)."""

    # On the credential directly, not through `requires`: every level of dependencies costs
    # FastAPI's resolution on each request.
    async def dependency(principal: Principal = Depends(credential)) -> str:  # noqa: B008
        principal.require(scope)
        return principal.organization_id

    return dependency


async def any_key_organization(principal: Annotated[Principal, Depends(bearer_principal)]) -> str:
    return principal.organization_id


#: The organisation id of a bearer key, whatever its scopes (reading the organisation itself).
AnyKey = Annotated[str, Depends(any_key_organization)]
CallsRead = Annotated[str, Depends(organization_of(Scope.CALLS_READ))]
CallsWrite = Annotated[str, Depends(organization_of(Scope.CALLS_WRITE))]
#: The same, for the key + secret pair of the Zudu dialect.
PairCallsRead = Annotated[str, Depends(organization_of(Scope.CALLS_READ, key_secret_principal))]
PairCallsWrite = Annotated[str, Depends(organization_of(Scope.CALLS_WRITE, key_secret_principal))]
AgentsAdmin = Annotated[str, Depends(organization_of(Scope.AGENTS_ADMIN))]
NumbersAdmin = Annotated[str, Depends(organization_of(Scope.NUMBERS_ADMIN))]
WebhooksAdmin = Annotated[str, Depends(organization_of(Scope.WEBHOOKS_ADMIN))]
OrganizationAdmin = Annotated[str, Depends(organization_of(Scope.ORGANIZATION_ADMIN))]
#: The whole principal: creating a key needs the creator's own scopes (no escalation).
KeysAdmin = Annotated[Principal, Depends(requires(Scope.KEYS_ADMIN))]
