"""Signing in with an organisation's API key, signing out, choosing the language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool

from callplane.domain.errors import Unauthorized
from callplane.domain.principal import Principal
from callplane.store import orgs
from callplane.web.context import Dashboard, dashboard_of
from callplane.web.i18n import LANGS
from callplane.web.pages import PREFIX, SIGN_IN, WebRoute, redirect, render
from callplane.web.session import (
    Session,
    new_session,
    operator_marker,
    operator_matches,
    posted_form,
    read_session,
    store_session,
)

router = APIRouter(prefix=PREFIX, route_class=WebRoute, include_in_schema=False)

Form = Annotated[dict[str, str], Depends(posted_form)]


@router.get("/sign-in")
def sign_in_page(request: Request) -> Response:
    read_session(request)  # a visitor without a session gets one: the form needs its token
    return render(request, "sign_in.html", failed=False)


def _check_key(dashboard: Dashboard, key: str) -> Principal:
    with dashboard.db.read() as conn:
        return orgs.authenticate(conn, key, None, dashboard.clock.now_ms()).principal


@router.post("/sign-in")
async def sign_in(request: Request, form: Form) -> Response:
    dashboard = dashboard_of(request)
    key = form.get("api_key", "").strip()
    await dashboard.gate.before_credentials(request)
    if operator_matches(dashboard, key):
        fresh = new_session(read_session(request).lang)
        store_session(
            request, Session(fresh.csrf, fresh.lang, operator_marker(dashboard), dashboard.clock.now_ms())
        )
        return redirect(request, f"{PREFIX}/operator")
    try:
        if not key:
            raise Unauthorized("no key")
        principal = await run_in_threadpool(_check_key, dashboard, key)
    except Unauthorized:
        await dashboard.gate.credential_failed(request)
        return render(request, "sign_in.html", status=401, failed=True)
    await dashboard.gate.admit(principal.credential_id, principal.organization_id)
    # A new session (and CSRF token) at sign-in: a token planted before it is worth nothing.
    fresh = new_session(read_session(request).lang)
    store_session(
        request,
        Session(fresh.csrf, fresh.lang, principal.credential_id, dashboard.clock.now_ms()),
    )
    return redirect(request, f"{PREFIX}/calls")


@router.post("/sign-out")
async def sign_out(request: Request, form: Form) -> Response:
    store_session(request, new_session(read_session(request).lang))
    return redirect(request, SIGN_IN)


@router.post("/language")
async def choose_language(request: Request, form: Form) -> Response:
    session = read_session(request)
    lang = next((x for x in LANGS if x == form.get("lang")), session.lang)
    store_session(request, Session(session.csrf, lang, session.credential_id, session.signed_in_at))
    back = form.get("next", "")
    # Only a path of ours: the form's `next` must not send the browser elsewhere.
    return redirect(request, back if back.startswith(PREFIX + "/") else f"{PREFIX}/calls")


@router.get("")
@router.get("/")
def home(request: Request) -> Response:
    return redirect(request, f"{PREFIX}/calls")
