"""Rendering pages, and the route class that turns every failure into one.

`WebRoute` is the dashboard's `DialectRoute`: a domain error becomes an HTML page with its status
(another organisation's call is the same 404 page as a call that does not exist), a missing or
revoked session becomes the sign-in page, anything else is logged and answered as a plain 500.
An htmx request gets a fragment instead of a page, since it is swapped into part of one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse

from callplane.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyMismatch,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    ValidationFailed,
)
from callplane.web import format as fmt
from callplane.web.i18n import translator
from callplane.web.session import SignInRequired, Viewer, finish, language, read_session

log = logging.getLogger(__name__)

PREFIX = "/dashboard"
SIGN_IN = f"{PREFIX}/sign-in"

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    duration=fmt.duration,
    offset=fmt.offset,
    since=fmt.since,
    won=fmt.won,
    number=fmt.number,
    data=fmt.data,
    highlight=fmt.highlight,
    snippet=fmt.snippet,
)


#: Pages load only our own files (the tests also check no request leaves the server), run no
#: inline script and cannot be framed (clickjacking a cancel button).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    *,
    viewer: Viewer | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    lang = language(request)
    timezone = viewer.organization.window.timezone if viewer else "Asia/Seoul"
    html = templates.get_template(template).render(
        t=translator(lang),
        lang=lang,
        csrf=read_session(request).csrf,
        viewer=viewer,
        timezone=timezone,
        when=lambda ms, seconds=False: fmt.local_time(ms, timezone, seconds=seconds),
        prefix=PREFIX,
        path=request.url.path,
        # Where the language toggle comes back to: this page with its filters.
        here=request.url.path + ("?" + request.url.query if request.url.query else ""),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    # Pages hold an organisation's calls: never kept by a shared cache or the back-forward cache
    # after signing out.
    response.headers["Cache-Control"] = "no-store"
    response.headers.update(SECURITY_HEADERS)
    return finish(request, response)


def redirect(request: Request, to: str) -> Response:
    """After a POST: 303 to `to`, or htmx's own redirect header for an htmx request."""
    if is_htmx(request):
        return finish(request, Response(status_code=204, headers={"HX-Redirect": to}))
    return finish(request, RedirectResponse(to, status_code=303))


_STATUS: list[tuple[type[Exception], int, str]] = [
    (NotFound, 404, "not_found"),
    (ValidationFailed, 400, "error"),
    (Forbidden, 403, "forbidden"),
    (Unauthorized, 401, "forbidden"),
    (Conflict, 409, "error"),
    (IdempotencyMismatch, 409, "error"),
    (TooLarge, 413, "error"),
    (RateLimited, 429, "error"),
]


def error_page(request: Request, exc: Exception, viewer: Viewer | None = None) -> Response:
    if isinstance(exc, SignInRequired):
        return redirect(request, SIGN_IN)
    if isinstance(exc, RequestValidationError):
        exc = ValidationFailed.single("request", "has a parameter of the wrong form")
    status, title = 500, "error"
    for kind, code, key in _STATUS:
        if isinstance(exc, kind):
            status, title = code, key
            break
    if status == 500:
        log.error("dashboard %s %s failed", request.method, request.url.path, exc_info=exc)
    message = exc.message if isinstance(exc, DomainError) else "internal error"
    template = "error_fragment.html" if is_htmx(request) else "error.html"
    response = render(request, template, viewer=viewer, status=status, title=title, message=message)
    response.headers.update(getattr(exc, "headers", None) or {})
    return response


class WebRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if b"%00" in request.scope.get("query_string", b""):
                return error_page(request, ValidationFailed.single("query", "must not contain NUL"))
            try:
                return await original(request)
            except HTTPException as exc:
                if 400 <= exc.status_code < 500:
                    return error_page(request, ValidationFailed.single("request", str(exc.detail)))
                return error_page(request, exc)
            except Exception as exc:
                return error_page(request, exc)

        return handler
