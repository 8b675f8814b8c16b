"""The operator's view: signing in with the operator token, organisations with live counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain.call import CallStatus
from callplane.engine.clock import FixedClock
from callplane.store.db import Database
from tests.factories import Tenant
from tests.web.conftest import NOW, a_call, csrf_of, insert, queued_call, sign_in

TOKEN = "op_" + "x" * 40


@pytest.fixture
def operated(db: Database, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db.url, operator_token=TOKEN), db=db, clock=clock)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def _sign_in_operator(client: TestClient, token: str = TOKEN) -> None:
    csrf = csrf_of(client.get("/dashboard/sign-in").text)
    answer = client.post("/dashboard/sign-in", data={"csrf": csrf, "api_key": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/operator"


def test_the_operator_sees_every_organisation_and_its_live_calls(
    operated: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    live = a_call(tenant, status=CallStatus.ONGOING, end_at=None, duration_ms=None, disconnection_reason=None)
    insert(db, live, queued_call(tenant, at=NOW - 60_000), a_call(other))
    _sign_in_operator(operated)
    html = operated.get("/dashboard/operator").text
    row = html.split(f'data-org="{tenant.organization_id}"')[1].split("</tr>")[0]
    assert 'live-count">1 / 10<' in row and '<td class="num">1</td>' in row and "₩100,000" in row
    theirs = html.split(f'data-org="{other.organization_id}"')[1].split("</tr>")[0]
    assert 'live-count">0 / 10<' in theirs
    assert 'id="total-live">1<' in html


def test_an_organisation_key_does_not_open_the_operator_view(operated: TestClient, tenant: Tenant) -> None:
    sign_in(operated, tenant.api_key)
    answer = operated.get("/dashboard/operator", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/sign-in"


def test_the_operator_session_opens_no_organisations_pages(operated: TestClient, tenant: Tenant) -> None:
    _sign_in_operator(operated)
    answer = operated.get("/dashboard/calls", follow_redirects=False)
    assert answer.headers["location"] == "/dashboard/sign-in"


def test_without_a_token_configured_there_is_no_operator_view(web: TestClient) -> None:
    answer = web.get("/dashboard/operator", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/sign-in"
    csrf = csrf_of(web.get("/dashboard/sign-in").text)
    refused = web.post("/dashboard/sign-in", data={"csrf": csrf, "api_key": TOKEN})
    assert refused.status_code == 401
