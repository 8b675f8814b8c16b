"""A queued call's page says why it is still waiting, from the dispatcher's own facts and rules."""

from __future__ import annotations

from fastapi.testclient import TestClient

from callplane.domain.call import CallStatus
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from tests.factories import Tenant
from tests.web.conftest import NOW, a_call, insert, queued_call, sign_in

MINUTE = 60_000


def _why(web: TestClient, call_id: str) -> str:
    html = web.get(f"/dashboard/calls/{call_id}").text
    assert 'id="why-waiting"' in html
    return html.split('id="why-waiting"')[1].split("</section>")[0]


def test_a_closed_window_says_when_it_opens(web: TestClient, db: Database, tenant: Tenant) -> None:
    # NOW is 09:00 in Seoul; the window opens at 10:00.
    Admin(db, lambda: NOW).update_organization(
        tenant.organization_id, {"calling_window": {"start": "10:00", "end": "18:00"}}
    )
    call = queued_call(tenant, at=NOW - MINUTE)
    insert(db, call)
    sign_in(web, tenant.api_key)
    assert "2026-01-01 10:00" in _why(web, call.id)


def test_full_concurrency_shows_n_of_n(web: TestClient, db: Database, tenant: Tenant) -> None:
    Admin(db, lambda: NOW).update_organization(tenant.organization_id, {"max_concurrent_calls": 1})
    live = a_call(tenant, status=CallStatus.ONGOING, end_at=None, duration_ms=None, disconnection_reason=None)
    call = queued_call(tenant, at=NOW - MINUTE)
    insert(db, live, call)
    sign_in(web, tenant.api_key)
    why = _why(web, call.id)
    assert "동시 통화 한도를 모두 쓰고 있습니다: 1/1" in why


def test_a_reached_daily_cap_is_named(web: TestClient, db: Database, tenant: Tenant) -> None:
    Admin(db, lambda: NOW).update_organization(tenant.organization_id, {"daily_call_limit": 1})
    # Dialled 30 minutes ago: 08:30 in Seoul, today.
    insert(db, a_call(tenant, at=NOW - 30 * MINUTE))
    call = queued_call(tenant, at=NOW - MINUTE)
    insert(db, call)
    sign_in(web, tenant.api_key)
    why = _why(web, call.id)
    assert "daily_call_limit_reached" in why and "1/1" in why


def test_a_due_call_with_room_is_dialled_next(web: TestClient, db: Database, tenant: Tenant) -> None:
    call = queued_call(tenant, at=NOW - MINUTE)
    insert(db, call)
    sign_in(web, tenant.api_key)
    assert "다음 배차에서 발신합니다" in _why(web, call.id)


def test_an_ended_call_has_no_waiting_section(web: TestClient, db: Database, tenant: Tenant) -> None:
    call = a_call(tenant)
    insert(db, call)
    sign_in(web, tenant.api_key)
    assert 'id="why-waiting"' not in web.get(f"/dashboard/calls/{call.id}").text
