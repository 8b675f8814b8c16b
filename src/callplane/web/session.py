"""The dashboard's session: a signed cookie holding a key's id, a CSRF token and the language.

Signing in exchanges an organisation's bearer key for a session; the cookie carries the key's
*id*, never the key, and every request reads that key's row again (`orgs.credential_principal`),
so a revoked key ends its sessions at once and its scopes are always the current ones.

The cookie is signed (itsdangerous, HMAC-SHA256) with a key derived from the deployment's server
secret (`Cursors.derive`), which every API process reads from the database: any process accepts
a cookie another one issued. It is HttpOnly (no script reads it), SameSite=Lax (not sent with
cross-site POSTs) and Secure behind TLS. A session lasts `SESSION_MS` from sign-in.

Every form carries the session's CSRF token (a hidden field, or the `X-CSRF-Token` header htmx
sends); a POST without the right one is refused with a 403 before it does anything. A visitor
who has not signed in gets a session too — without a key — so the sign-in form is protected
the same way (login CSRF); signing in issues a new token (no session fixation).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from typing import Any, TypeVar
from urllib.parse import parse_qs

from fastapi.concurrency import run_in_threadpool
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

from callplane.domain.errors import DomainError, Forbidden, TooLarge, ValidationFailed
from callplane.domain.org import Organization
from callplane.domain.principal import Principal, Scope
from callplane.store import orgs
from callplane.web.context import Dashboard, dashboard_of
from callplane.web.i18n import Lang, choose_language

COOKIE = "callplane_session"
COOKIE_PATH = "/dashboard"
SESSION_MS = 12 * 3600 * 1000
#: The dashboard's forms are a few short fields; anything larger is not one of them.
MAX_FORM_BYTES = 16 * 1024
#: A pasted callee or suppression list: about 40,000 short rows.
MAX_LIST_BYTES = 2 * 1024 * 1024
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
R = TypeVar("R", bound=Response)


class SignInRequired(DomainError):
    """No session, an expired one, or one whose key was revoked: the sign-in page answers."""


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    lang: Lang | None = None
    credential_id: str | None = None
    signed_in_at: int | None = None
    #: Not yet in the browser (new, or changed by this request): the response sets the cookie.
    dirty: bool = False

    def payload(self) -> dict[str, Any]:
        return {"x": self.csrf, "l": self.lang, "c": self.credential_id, "t": self.signed_in_at}


def new_session(lang: Lang | None = None) -> Session:
    return Session(csrf=secrets.token_urlsafe(24), lang=lang, dirty=True)


def _serializer(dashboard: Dashboard) -> URLSafeSerializer:
    return URLSafeSerializer(dashboard.cursors.derive(b"callplane dashboard session v1"), salt="session")


def read_session(request: Request) -> Session:
    """This request's session: the cookie's, or a new anonymous one. Cached on the request."""
    cached = getattr(request.state, "session", None)
    if isinstance(cached, Session):
        return cached
    session = _decode(dashboard_of(request), request.cookies.get(COOKIE, "")) or new_session()
    request.state.session = session
    return session


def _decode(dashboard: Dashboard, token: str) -> Session | None:
    if not token:
        return None
    try:
        data = _serializer(dashboard).loads(token)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("x"), str):
        return None
    lang = data.get("l") if data.get("l") in ("ko", "en") else None
    credential, at = data.get("c"), data.get("t")
    if not isinstance(credential, str) or not isinstance(at, int):
        return Session(data["x"], lang)
    if dashboard.clock.now_ms() - at > SESSION_MS:
        return Session(data["x"], lang, dirty=True)  # expired: keep the token, drop the key
    return Session(data["x"], lang, credential, at)


def store_session(request: Request, session: Session) -> None:
    """Make `session` this request's, to be written to the cookie by `finish`."""
    request.state.session = replace(session, dirty=True)


def finish(request: Request, response: R) -> R:
    """Write the session cookie when this request created or changed it."""
    session = getattr(request.state, "session", None)
    if isinstance(session, Session) and session.dirty:
        response.set_cookie(
            COOKIE,
            _serializer(dashboard_of(request)).dumps(session.payload()),
            max_age=SESSION_MS // 1000,
            path=COOKIE_PATH,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def language(request: Request) -> Lang:
    return read_session(request).lang or choose_language(request.headers.get("accept-language", ""))


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: the key's principal and its organisation (for the time zone)."""

    principal: Principal
    organization: Organization

    @property
    def organization_id(self) -> str:
        return self.principal.organization_id

    def can(self, scope: Scope) -> bool:
        return scope in self.principal.scopes


def _load(dashboard: Dashboard, credential_id: str) -> Viewer | None:
    with dashboard.db.read() as conn:
        principal = orgs.credential_principal(conn, credential_id)
        if principal is None:
            return None
        return Viewer(principal, orgs.get_organization(conn, principal.organization_id))


def operator_matches(dashboard: Dashboard, given: str) -> bool:
    token = dashboard.operator_token
    return token is not None and bool(given) and hmac.compare_digest(given.encode(), token.encode())


def operator_marker(dashboard: Dashboard) -> str:
    """What an operator session holds in place of a key id: a digest of the token, so a new (or
    removed) `CALLPLANE_OPERATOR_TOKEN` ends every operator session at once. It never matches a
    key id (those are UUIDs), so an operator session opens no organisation's pages."""
    token = dashboard.operator_token or ""
    return "operator:" + hashlib.sha256(b"callplane operator session\0" + token.encode()).hexdigest()[:32]


async def operator(request: Request) -> None:
    """The signed-in operator, or SignInRequired."""
    dashboard = dashboard_of(request)
    session = read_session(request)
    if dashboard.operator_token is None or session.credential_id is None:
        raise SignInRequired("sign in first")
    if not hmac.compare_digest(session.credential_id.encode(), operator_marker(dashboard).encode()):
        raise SignInRequired("sign in with the operator token")


async def viewer(request: Request) -> Viewer:
    """The signed-in viewer, or SignInRequired. Counts against the key's rate limits like an
    API request (htmx refreshes included)."""
    dashboard = dashboard_of(request)
    session = read_session(request)
    if session.credential_id is None:
        raise SignInRequired("sign in first")
    found = await run_in_threadpool(_load, dashboard, session.credential_id)
    if found is None:
        store_session(request, Session(session.csrf, session.lang))
        raise SignInRequired("this key was revoked; sign in again")
    await dashboard.gate.admit(found.principal.credential_id, found.organization_id)
    return found


async def posted_form(request: Request) -> dict[str, str]:
    """The POSTed form's fields (one value each), after checking its CSRF token.

    Parsed here rather than by a multipart library: the dashboard's forms are URL-encoded and
    small, and a body past `MAX_FORM_BYTES` is refused before more of it is read.
    """
    return await _form(request, MAX_FORM_BYTES)


async def posted_list(request: Request) -> dict[str, str]:
    """`posted_form` for the forms that carry a pasted list (a campaign's CSV, suppressions)."""
    return await _form(request, MAX_LIST_BYTES)


async def _form(request: Request, limit: int) -> dict[str, str]:
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and (len(declared) > 12 or int(declared) > limit):
        raise TooLarge(f"this dashboard form is at most {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"this dashboard form is at most {limit} bytes")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise ValidationFailed.single("form", "could not be read") from None
    form = {name: values[-1] for name, values in parsed.items()}
    sent = form.pop(CSRF_FIELD, "") or request.headers.get(CSRF_HEADER, "")
    expected = read_session(request).csrf
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Forbidden("the form's security token is missing or out of date: reload the page and try again")
    return form
