"""Signing in and out, the session cookie, CSRF, scopes and revocation (server side)."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain.principal import Scope
from callplane.engine.clock import FixedClock
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from callplane.web.session import COOKIE, SESSION_MS
from tests.factories import Tenant
from tests.web.conftest import NOW, csrf_of, insert, queued_call, sign_in


def test_pages_need_a_session(web: TestClient) -> None:
    answer = web.get("/dashboard/calls", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/sign-in"
    # htmx follows its own header rather than a redirect swapped into the table.
    answer = web.get("/dashboard/calls", headers={"HX-Request": "true"}, follow_redirects=False)
    assert answer.headers["HX-Redirect"] == "/dashboard/sign-in"


def test_sign_in_sets_a_signed_httponly_lax_cookie(web: TestClient, tenant: Tenant) -> None:
    token = csrf_of(web.get("/dashboard/sign-in").text)
    answer = web.post(
        "/dashboard/sign-in", data={"csrf": token, "api_key": tenant.api_key}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/calls"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/dashboard" in cookie
    assert tenant.api_key not in cookie  # the key's id travels, never the key
    page = web.get("/dashboard/calls")
    assert page.status_code == 200 and "test org" in page.text
    # A new token at sign-in: the one the anonymous form carried is no longer the session's.
    assert csrf_of(page.text) != token


def test_a_wrong_key_is_refused_and_counted(web: TestClient, tenant: Tenant) -> None:
    token = csrf_of(web.get("/dashboard/sign-in").text)
    answer = web.post("/dashboard/sign-in", data={"csrf": token, "api_key": "cp_wrongwrongwrongwrong"})
    assert answer.status_code == 401
    assert "키가 올바르지 않거나" in answer.text
    assert web.get("/dashboard/calls", follow_redirects=False).status_code == 303


def test_wrong_keys_hit_the_apis_failed_credential_limit(
    db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    settings = Settings(database_url=db.url, rate_limit_auth_failures="2/minute")
    with TestClient(create_app(settings, db=db, clock=clock)) as client:
        token = csrf_of(client.get("/dashboard/sign-in").text)
        for _ in range(2):
            client.post("/dashboard/sign-in", data={"csrf": token, "api_key": "cp_wrongwrongwrongwrong"})
        answer = client.post("/dashboard/sign-in", data={"csrf": token, "api_key": tenant.api_key})
        assert answer.status_code == 429
        assert "Retry-After" in answer.headers


def test_a_form_without_the_csrf_token_is_refused(web: TestClient, db: Database, tenant: Tenant) -> None:
    web.get("/dashboard/sign-in")
    assert web.post("/dashboard/sign-in", data={"api_key": tenant.api_key}).status_code == 403
    token = sign_in(web, tenant.api_key)
    queued = queued_call(tenant)
    insert(db, queued)
    for data, headers in (({}, {}), ({"csrf": "forged"}, {}), ({}, {"X-CSRF-Token": "forged"})):
        answer = web.post(f"/dashboard/calls/{queued.id}/cancel", data=data, headers=headers)
        assert answer.status_code == 403
    assert "queued" in web.get(f"/dashboard/calls/{queued.id}").text
    # The header htmx sends is as good as the field.
    answer = web.post(
        f"/dashboard/calls/{queued.id}/cancel", headers={"X-CSRF-Token": token}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert web.post("/dashboard/sign-out", data={}).status_code == 403


def test_sign_out_ends_the_session(web: TestClient, tenant: Tenant) -> None:
    token = sign_in(web, tenant.api_key)
    answer = web.post("/dashboard/sign-out", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/sign-in"
    assert web.get("/dashboard/calls", follow_redirects=False).status_code == 303


def test_a_revoked_key_ends_its_sessions(web: TestClient, db: Database, tenant: Tenant) -> None:
    admin = Admin(db, lambda: NOW)
    key = admin.issue_key(tenant.organization_id, "browser", scopes=frozenset({Scope.CALLS_READ}))
    sign_in(web, key.key)
    admin.revoke_key(tenant.organization_id, key.id)
    assert web.get("/dashboard/calls", follow_redirects=False).status_code == 303


def test_sessions_expire(web: TestClient, clock: FixedClock, tenant: Tenant) -> None:
    sign_in(web, tenant.api_key)
    clock.advance(SESSION_MS + 1)
    assert web.get("/dashboard/calls", follow_redirects=False).status_code == 303


def test_another_process_on_the_same_database_accepts_the_session(
    web: TestClient, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    sign_in(web, tenant.api_key)
    cookie = web.cookies.get(COOKIE, path="/dashboard")
    assert cookie
    with TestClient(create_app(Settings(database_url=db.url), db=db, clock=clock)) as second:
        second.cookies.set(COOKIE, cookie, path="/dashboard")
        assert second.get("/dashboard/calls", follow_redirects=False).status_code == 200
        # A cookie signed with another secret, or altered, is no session.
    with TestClient(
        create_app(
            Settings(database_url=db.url, cursor_secret="another-deployment-secret"), db=db, clock=clock
        )
    ) as foreign:
        foreign.cookies.set(COOKIE, cookie, path="/dashboard")
        assert foreign.get("/dashboard/calls", follow_redirects=False).status_code == 303
        foreign.cookies.set(COOKIE, cookie[:-2] + "xx", path="/dashboard")
        assert foreign.get("/dashboard/calls", follow_redirects=False).status_code == 303


def test_scopes_apply(web: TestClient, db: Database, tenant: Tenant) -> None:
    admin = Admin(db, lambda: NOW)
    call = queued_call(tenant)
    insert(db, call)
    reader = admin.issue_key(tenant.organization_id, "reader", scopes=frozenset({Scope.CALLS_READ}))
    token = sign_in(web, reader.key)
    page = web.get(f"/dashboard/calls/{call.id}")
    assert page.status_code == 200
    assert 'id="cancel-call"' not in page.text and 'id="webhooks"' not in page.text
    assert web.post(f"/dashboard/calls/{call.id}/cancel", data={"csrf": token}).status_code == 403
    webhooks_only = admin.issue_key(tenant.organization_id, "hooks", scopes=frozenset({Scope.WEBHOOKS_ADMIN}))
    sign_in(web, webhooks_only.key)
    assert web.get("/dashboard/calls").status_code == 403
    sign_in(web, tenant.api_key)  # every scope
    page = web.get(f"/dashboard/calls/{call.id}")
    assert 'id="cancel-call"' in page.text and 'id="webhooks"' in page.text


def test_language_follows_the_browser_then_the_toggle(web: TestClient, tenant: Tenant) -> None:
    token = sign_in(web, tenant.api_key)
    assert ">Calls<" in web.get("/dashboard/calls", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert (
        ">통화<" in web.get("/dashboard/calls", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"}).text
    )
    answer = web.post(
        "/dashboard/language",
        data={"csrf": token, "lang": "en", "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/dashboard/calls"  # never off-site
    assert ">Calls<" in web.get("/dashboard/calls", headers={"Accept-Language": "ko"}).text
    # The toggle comes back to the page it was on, filters and all.
    page = web.get("/dashboard/calls", params={"preset": "all", "q": "환불"}).text
    back = re.search(r'name="next" value="([^"]+)"', page)
    assert back is not None
    answer = web.post(
        "/dashboard/language", data={"csrf": token, "lang": "ko", "next": html.unescape(back.group(1))}
    )
    assert answer.url.path == "/dashboard/calls" and answer.url.params["q"] == "환불"
    assert 'value="환불"' in answer.text and ">통화<" in answer.text


def test_pages_carry_a_strict_content_security_policy(web: TestClient, tenant: Tenant) -> None:
    sign_in(web, tenant.api_key)
    page = web.get("/dashboard/calls")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
