"""Two promises checked over the app's whole route table, so a page added later is held to them
too: every dashboard POST is refused without the session's CSRF token, and every dashboard URL
that takes an id answers another organisation's id with a 404 (and changes nothing of theirs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update

import callplane.web
from callplane.domain.call import CallStatus
from callplane.engine.services.admin import Admin
from callplane.engine.services.campaigns import CampaignService
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from callplane.store.schema import webhook_deliveries
from tests.factories import Tenant
from tests.web.conftest import NOW, insert, queued_call, sign_in
from tests.web.test_campaigns import _form as campaign_form

TEMPLATES = Path(callplane.web.__file__).parent / "templates"
#: Path parameters that are not ids, and what to put in them.
NOT_IDS = {"kind": "csv", "action": "cancel"}
#: Every field any dashboard form reads, filled in well: a refusal is then the route's doing.
FIELDS = {"version": "1", "to": "01012345678", "number": "01099998888", "lang": "en", "scope.calls:read": "1"}


def _dashboard_routes(web: TestClient) -> list[APIRoute]:
    return [r for r in _walk(web.app.routes) if r.path.startswith("/dashboard")]  # type: ignore[attr-defined]


def _walk(routes: Iterable[object]) -> Iterator[APIRoute]:
    """The app's routes, through included routers (FastAPI ≥ 0.16x keeps them as branches)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _walk(inner.routes)


def _fill(path: str, ids: dict[str, str]) -> str:
    # A parameter with no id here fails the test: a new URL must be added to this check.
    return re.sub(r"\{(\w+)\}", lambda m: NOT_IDS.get(m.group(1)) or ids[m.group(1)], path)


@dataclass
class Theirs:
    """One of everything another organisation has, each able to be acted on if reached."""

    call_id: str
    campaign_id: str
    agent_id: str
    endpoint_id: str
    delivery_id: str
    credential_id: str
    rehearsal_id: str
    number: str

    def ids(self) -> dict[str, str]:
        return dict(self.__dict__)


def _theirs(web: TestClient, db: Database, other: Tenant) -> Theirs:
    call = queued_call(other)
    insert(db, call)
    webhooks = WebhookAdmin(db, lambda: NOW, allow_private=True)
    endpoint = webhooks.add(other.organization_id, "http://127.0.0.1:9/theirs").endpoint
    delivery = webhooks.send_test(other.organization_id, endpoint.id)
    with db.write() as conn:  # finished, so a redelivery would be accepted if it reached it
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id)
            .values(status="failed", finished_at=NOW)
        )
    key = Admin(db, lambda: NOW).issue_key(other.organization_id, "theirs")
    # Their campaign and rehearsal, made through their own session on the same app.
    with TestClient(web.app, base_url="http://127.0.0.1") as theirs:
        csrf = sign_in(theirs, other.api_key)
        made = theirs.post(
            "/dashboard/campaigns/new",
            data=campaign_form(other, csrf, "create"),
            follow_redirects=False,
        )
        assert made.status_code == 303, made.text
        started = theirs.post(
            f"/dashboard/admin/agents/{other.agent_id}/rehearse",
            data={"csrf": csrf, "version": "1", "to": "01012345678"},
            follow_redirects=False,
        )
        assert started.status_code == 303, started.text
        assert theirs.get(started.headers["location"]).status_code == 200
    return Theirs(
        call_id=call.id,
        campaign_id=made.headers["location"].rsplit("/", 1)[1],
        agent_id=other.agent_id,
        endpoint_id=endpoint.id,
        delivery_id=delivery.id,
        credential_id=key.id,
        rehearsal_id=started.headers["location"].rsplit("/", 1)[1],
        number=other.from_number,
    )


def test_every_post_form_in_the_templates_carries_the_token() -> None:
    forms = []
    for template in TEMPLATES.glob("*.html"):
        for form in re.findall(r"<form\b[^>]*>.*?</form>", template.read_text(encoding="utf-8"), re.S):
            if 'method="post"' in form:
                forms.append((template.name, form))
                assert '<input type="hidden" name="csrf" value="{{ csrf }}">' in form, (template.name, form)
    assert len(forms) >= 15  # the scan found the forms (sign-in, sign-out, language, admin, …)


def test_every_dashboard_post_is_refused_without_the_token(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    token = sign_in(web, tenant.api_key)
    queued = queued_call(tenant)
    insert(db, queued)
    ours = {
        "call_id": queued.id,
        "campaign_id": "00000000-0000-7000-8000-000000000000",
        "agent_id": tenant.agent_id,
        "endpoint_id": "00000000-0000-7000-8000-000000000000",
        "delivery_id": "00000000-0000-7000-8000-000000000000",
        "credential_id": tenant.key_id,
        "number": tenant.from_number,
    }
    posts = [r for r in _dashboard_routes(web) if "POST" in (r.methods or ())]
    assert {
        "/dashboard/sign-in",
        "/dashboard/sign-out",
        "/dashboard/calls/{call_id}/cancel",
        "/dashboard/campaigns/new",
        "/dashboard/admin/agents/{agent_id}/rehearse",
        "/dashboard/admin/keys",
    } <= {r.path for r in posts}
    for route in posts:
        url = _fill(route.path, ours)
        for data, headers in (
            (FIELDS, {}),
            ({**FIELDS, "csrf": "forged"}, {}),
            (FIELDS, {"X-CSRF-Token": "x"}),
        ):
            answer = web.post(url, data=data, headers=headers, follow_redirects=False)
            assert answer.status_code == 403, (route.path, answer.status_code)
            assert "security token" in answer.text
    # Nothing happened: the call is queued, the session is still signed in, no key was made.
    assert CallStatus.QUEUED.value in web.get(f"/dashboard/calls/{queued.id}").text
    assert web.get("/dashboard/calls", follow_redirects=False).status_code == 200
    assert [k.name for k in Admin(db, lambda: NOW).keys(tenant.organization_id)] == ["test", "test pair"]
    assert f'name="csrf" value="{token}"' in web.get("/dashboard/calls").text


def test_another_organisations_id_in_any_dashboard_url_is_a_404(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    theirs = _theirs(web, db, other)
    csrf = sign_in(web, tenant.api_key)
    checked = []
    for route in _dashboard_routes(web):
        if not set(re.findall(r"\{(\w+)\}", route.path)) - set(NOT_IDS):
            continue  # no id in this URL
        url = _fill(route.path, theirs.ids())
        for method in sorted((route.methods or set()) & {"GET", "POST"}):
            if method == "GET":
                answer = web.get(url, follow_redirects=False)
            else:
                answer = web.post(url, data={**FIELDS, "csrf": csrf}, follow_redirects=False)
            assert answer.status_code == 404, (method, route.path, answer.status_code)
            checked.append((method, route.path))
    assert len(checked) >= 14, checked
    # Our own agent with their rehearsal, our call with their delivery: still not found.
    assert (
        web.get(f"/dashboard/admin/agents/{tenant.agent_id}/rehearsals/{theirs.rehearsal_id}").status_code
        == 404
    )
    ours = queued_call(tenant)
    insert(db, ours)
    assert (
        web.post(
            f"/dashboard/calls/{ours.id}/deliveries/{theirs.delivery_id}/redeliver", data={"csrf": csrf}
        ).status_code
        == 404
    )
    # And nothing of theirs changed.
    admin, webhooks = Admin(db, lambda: NOW), WebhookAdmin(db, lambda: NOW, allow_private=True)
    assert _status_of(web, other, theirs.call_id) == "queued"
    [campaign] = CampaignService(db, lambda: NOW).campaigns(other.organization_id, 10, None)
    assert not campaign.campaign.status.is_final
    assert [e.id for e in webhooks.endpoints(other.organization_id)] == [theirs.endpoint_id]
    assert [d.id for d in webhooks.delivery_log(other.organization_id, 10)] == [theirs.delivery_id]
    assert all(k.revoked_at is None for k in admin.keys(other.organization_id))
    assert [n.inbound_agent_id for n in admin.numbers(other.organization_id)] == [None, None]


def _status_of(web: TestClient, other: Tenant, call_id: str) -> str:
    with TestClient(web.app, base_url="http://127.0.0.1") as theirs:
        sign_in(theirs, other.api_key)
        page = theirs.get(f"/dashboard/calls/{call_id}").text
    found = re.search(r'id="call-status" class="badge status-(\w+)"', page)
    assert found is not None
    return found.group(1)
