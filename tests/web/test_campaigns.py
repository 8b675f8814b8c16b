"""Campaign pages through the real app: create from CSV (checked first), progress, actions."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from callplane.engine.services.campaigns import CampaignService
from callplane.store.db import Database
from tests.factories import Tenant
from tests.web.conftest import NOW, sign_in

CSV = (
    "to_number,customer_name\n01012345678,홍길동\nnot a number,김철수\n01055556666,\n"
    "01012345678,홍길동\n01077778888,이영희\n"
)


def _form(tenant: Tenant, csrf: str, action: str) -> dict[str, str]:
    return {
        "csrf": csrf,
        "name": "1월 예약 확인",
        "from": tenant.from_number,
        "agent": tenant.agent_id,
        "concurrency": "2",
        "attempts": "1",
        "start": "09:00",
        "end": "18:00",
        "csv": CSV,
        "action": action,
    }


def test_check_shows_rejected_rows_and_creates_nothing(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    answer = web.post("/dashboard/campaigns/new", data=_form(tenant, csrf, "check"))
    assert answer.status_code == 200
    html = answer.text
    assert "2개 행 통과, 3개 거부." in html
    rejected = re.findall(r'<tr><td class="num">(\d+)</td><td><code>([^<]+)</code></td>', html)
    assert rejected == [("3", "to_number"), ("4", "dynamic_variables"), ("5", "to_number")]
    assert CampaignService(db, lambda: NOW).campaigns(tenant.organization_id, 10, None) == []
    # The create button carries the same form: the rows are still in it.
    assert 'id="create"' in html and "홍길동" in html


def test_create_makes_one_campaign_from_the_good_rows(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    answer = web.post("/dashboard/campaigns/new", data=_form(tenant, csrf, "create"), follow_redirects=False)
    assert answer.status_code == 303
    page_url = answer.headers["location"]
    # The same list again is the same import: no second campaign.
    again = web.post("/dashboard/campaigns/new", data=_form(tenant, csrf, "create"), follow_redirects=False)
    assert again.headers["location"] == page_url
    views = CampaignService(db, lambda: NOW).campaigns(tenant.organization_id, 10, None)
    assert len(views) == 1 and views[0].counters.total == 2
    page = web.get(page_url).text
    assert 'id="n-total">2<' in page and "1월 예약 확인" in page
    assert page.count("data-task=") == 2
    assert "1월 예약 확인" in web.get("/dashboard/campaigns").text


def test_pause_resume_cancel(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    page_url = web.post(
        "/dashboard/campaigns/new", data=_form(tenant, csrf, "create"), follow_redirects=False
    ).headers["location"]
    campaign_id = page_url.rsplit("/", 1)[1]
    service = CampaignService(db, lambda: NOW)
    for action, status in (("pause", "paused"), ("resume", "pending"), ("cancel", "canceled")):
        answer = web.post(f"{page_url}/{action}", data={"csrf": csrf}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        assert service.get(tenant.organization_id, campaign_id).campaign.status.value == status
    assert web.post(f"{page_url}/pause", data={"csrf": csrf}).status_code == 409


def test_another_organisations_campaign_is_a_404(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    csrf = sign_in(web, other.api_key)
    theirs = web.post(
        "/dashboard/campaigns/new", data=_form(other, csrf, "create"), follow_redirects=False
    ).headers["location"]
    web.cookies.clear()
    csrf = sign_in(web, tenant.api_key)
    assert web.get(theirs).status_code == 404
    assert web.post(f"{theirs}/cancel", data={"csrf": csrf}).status_code == 404


def test_a_post_without_the_token_is_refused(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    form = _form(tenant, csrf, "create")
    del form["csrf"]
    assert web.post("/dashboard/campaigns/new", data=form).status_code == 403
    assert CampaignService(db, lambda: NOW).campaigns(tenant.organization_id, 10, None) == []
