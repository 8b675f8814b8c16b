"""Admin pages through the real app: read-only limits, publish, do-not-call import, webhooks and
their delivery log, API keys shown once and revoked, other organisations' ids, CSRF."""

from __future__ import annotations

import re
import time

from fastapi.testclient import TestClient
from sqlalchemy import update

from callplane.engine.services.admin import Admin
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from callplane.store.schema import webhook_deliveries
from callplane.web.admin import DELIVERY_LOG
from tests.factories import FLOW_AGENT, Tenant
from tests.web.conftest import NOW, insert, queued_call, sign_in


def test_the_organisation_page_shows_window_and_limits_read_only(
    web: TestClient, db: Database, tenant: Tenant
) -> None:
    Admin(db, lambda: NOW).update_organization(tenant.organization_id, {"daily_call_limit": 500})
    sign_in(web, tenant.api_key)
    html = web.get("/dashboard/admin").text
    limits = html.split('id="limits"')[1].split("</section>")[0]
    assert "일일 발신 한도</dt><dd>500</dd>" in limits and "₩100,000" in limits
    assert "<input" not in limits and "<form" not in html.split('id="window"')[1].split("</section>")[0]
    assert "07011112222" in html  # its numbers


def test_publish_a_version(web: TestClient, db: Database, tenant: Tenant) -> None:
    admin = Admin(db, lambda: NOW, allow_private_destinations=True)
    admin.add_version(tenant.organization_id, tenant.agent_id, FLOW_AGENT)
    csrf = sign_in(web, tenant.api_key)
    assert "v2" in web.get("/dashboard/admin/agents").text
    answer = web.post(
        f"/dashboard/admin/agents/{tenant.agent_id}/publish",
        data={"csrf": csrf, "version": "2"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    agent, _ = admin.agent(tenant.organization_id, tenant.agent_id)
    assert agent.production_version == 2


def test_another_organisations_agent_is_a_404(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    csrf = sign_in(web, tenant.api_key)
    answer = web.post(
        f"/dashboard/admin/agents/{other.agent_id}/publish", data={"csrf": csrf, "version": "1"}
    )
    assert answer.status_code == 404
    agent, _ = Admin(db, lambda: NOW).agent(other.organization_id, other.agent_id)
    assert agent.production_version is None


def test_bulk_suppression_import_lists_bad_lines(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    numbers = "01012345678,asked twice\nnot a number\n\n01055556666\n010-7777-8888\n"
    html = web.post("/dashboard/admin/suppressions", data={"csrf": csrf, "numbers": numbers}).text
    assert "2개 번호를 추가했습니다." in html
    assert re.search(r'<td class="num">2</td><td>not a number</td>', html)
    assert re.search(r'<td class="num">5</td><td>010-7777-8888</td>', html)
    found = {s.number: s.reason for s in Admin(db, lambda: NOW).suppressions(tenant.organization_id)}
    assert found == {"+821012345678": "asked twice", "+821055556666": "dashboard import"}


def test_webhooks_secret_once_and_the_delivery_log(web: TestClient, db: Database, tenant: Tenant) -> None:
    WebhookAdmin(db, lambda: NOW, allow_private=True).add(
        tenant.organization_id, "http://127.0.0.1:9/hooks", events=["call_ended"]
    )
    call = queued_call(tenant)
    insert(db, call)
    csrf = sign_in(web, tenant.api_key)
    web.post(f"/dashboard/calls/{call.id}/cancel", data={"csrf": csrf})
    made = web.post(
        "/dashboard/admin/webhooks",
        data={"csrf": csrf, "url": "https://hooks.example.com/callplane", "event.call_ended": "1"},
    ).text
    assert re.search(r'id="new-secret">[^<]*<code>whsec_', made)
    page = web.get("/dashboard/admin/webhooks").text
    assert "whsec_" not in page and "https://hooks.example.com/callplane" in page
    log = page.split('id="delivery-log"')[1]
    assert "call_ended" in log and call.id[:8] in log and "delivery-pending" in log


def _logged(html: str) -> list[str]:
    return re.findall(r'data-delivery="([^"]+)"', html)


def test_the_delivery_log_pages_by_keyset_and_sends_test_events(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    webhooks = WebhookAdmin(db, lambda: NOW, allow_private=True)
    endpoint = webhooks.add(tenant.organization_id, "http://127.0.0.1:9/hooks").endpoint
    csrf = sign_in(web, tenant.api_key)
    assert f'id="send-test-{endpoint.id}"' in web.get("/dashboard/admin/webhooks").text
    sent = web.post(f"/dashboard/admin/webhooks/{endpoint.id}/test", data={"csrf": csrf})
    assert sent.status_code == 200 and "테스트 이벤트를 보내도록 예약했습니다." in sent.text
    [row] = sent.text.split('id="delivery-log"')[1].split('class="delivery-row"')[1:]
    assert "test" in row and "테스트 이벤트" in row and "delivery-pending" in row and "redeliver-" not in row
    # A page and one more, all made at the same millisecond: the id breaks the ties.
    for _ in range(DELIVERY_LOG):
        webhooks.send_test(tenant.organization_id, endpoint.id)
    newest_first = [d.id for d in webhooks.delivery_log(tenant.organization_id, 1000)]
    assert len(newest_first) == DELIVERY_LOG + 1
    first = web.get("/dashboard/admin/webhooks").text
    assert _logged(first) == newest_first[:DELIVERY_LOG] and 'id="log-newest"' not in first
    older = re.search(r'<a href="([^"#]+)#delivery-log" id="log-older">', first)
    assert older is not None and "offset" not in older.group(1)
    second = web.get(older.group(1)).text
    assert _logged(second) == newest_first[DELIVERY_LOG:]
    assert 'id="log-older"' not in second and 'id="log-newest"' in second
    for bad in ("nonsense", "12.not-an-id", f".{endpoint.id}"):
        assert web.get("/dashboard/admin/webhooks", params={"before": bad}).status_code == 400, bad

    # Redeliver from the log: a finished delivery's event goes again, as a new pending delivery.
    oldest = newest_first[-1]
    refused = web.post(f"/dashboard/admin/webhooks/deliveries/{oldest}/redeliver", data={"csrf": csrf})
    assert refused.status_code == 409  # still pending
    with db.write() as conn:  # the relay gave up on it
        conn.execute(
            update(webhook_deliveries).where(webhook_deliveries.c.id == oldest).values(status="failed")
        )
    assert f'id="redeliver-{oldest}"' in web.get(older.group(1)).text
    again = web.post(f"/dashboard/admin/webhooks/deliveries/{oldest}/redeliver", data={"csrf": csrf})
    assert again.status_code == 200 and "이벤트를 다시 보내도록 예약했습니다." in again.text
    new = webhooks.delivery(tenant.organization_id, _logged(again.text)[0])
    assert new.id not in newest_first and new.status.value == "pending"
    assert new.event_id == webhooks.delivery(tenant.organization_id, oldest).event_id
    # Another organisation's endpoint or delivery is not found; no token, no action.
    theirs = WebhookAdmin(db, lambda: NOW, allow_private=True).add(
        other.organization_id, "http://127.0.0.1:9/x"
    )
    their_delivery = webhooks.send_test(other.organization_id, theirs.endpoint.id)
    assert (
        web.post(f"/dashboard/admin/webhooks/{theirs.endpoint.id}/test", data={"csrf": csrf}).status_code
        == 404
    )
    foreign = web.post(
        f"/dashboard/admin/webhooks/deliveries/{their_delivery.id}/redeliver", data={"csrf": csrf}
    )
    assert foreign.status_code == 404
    assert web.post(f"/dashboard/admin/webhooks/{endpoint.id}/test", data={}).status_code == 403
    assert len(webhooks.delivery_log(tenant.organization_id, 1000)) == DELIVERY_LOG + 2


def test_a_key_is_shown_once_and_can_be_revoked(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    html = web.post("/dashboard/admin/keys", data={"csrf": csrf, "name": "crm", "scope.calls:read": "1"}).text
    key = re.search(r'id="new-key">[^<]*<code>(cp_[^<]+)</code>', html)
    assert key is not None
    assert key.group(1) not in web.get("/dashboard/admin/keys").text
    made = next(k for k in Admin(db, lambda: NOW).keys(tenant.organization_id) if k.name == "crm")
    assert {s.value for s in made.scopes} == {"calls:read"}
    answer = web.post(f"/dashboard/admin/keys/{made.id}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert answer.status_code == 303
    assert next(k for k in Admin(db, lambda: NOW).keys(tenant.organization_id) if k.id == made.id).revoked_at


def test_admin_forms_need_the_token(web: TestClient, db: Database, tenant: Tenant) -> None:
    sign_in(web, tenant.api_key)
    assert web.post("/dashboard/admin/suppressions", data={"numbers": "01012345678"}).status_code == 403
    assert Admin(db, lambda: NOW).suppressions(tenant.organization_id) == []


def test_rehearse_an_agent_on_the_simulated_line(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    assert "리허설" in web.get("/dashboard/admin/agents").text
    form = {"csrf": csrf, "version": "1", "to": "01012345678", "vars": "customer_name=홍길동"}
    started = web.post(
        f"/dashboard/admin/agents/{tenant.agent_id}/rehearse", data=form, follow_redirects=False
    )
    page = started.headers["location"]
    assert started.status_code == 303 and f"/dashboard/admin/agents/{tenant.agent_id}/rehearsals/" in page
    deadline = time.monotonic() + 30
    while 'data-finished="true"' not in (html := web.get(page).text):
        assert time.monotonic() < deadline, "the rehearsal did not finish"
        time.sleep(0.1)
    assert (
        "안녕하세요 홍길동님" in html
        and 'id="outcome"' in html
        and "hx-trigger" not in html.split('id="rehearsal"')[1]
    )
    # Nothing was stored: a rehearsal is no call.
    assert 'data-call-id="' not in web.get("/dashboard/calls", params={"preset": "all"}).text
    bad = web.post(f"/dashboard/admin/agents/{tenant.agent_id}/rehearse", data={**form, "vars": "no equals"})
    assert bad.status_code == 400
    bad_number = web.post(f"/dashboard/admin/agents/{tenant.agent_id}/rehearse", data={**form, "to": "12"})
    assert bad_number.status_code == 400


def test_set_and_turn_off_a_traffic_split(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    admin = Admin(db, lambda: NOW, allow_private_destinations=True)
    admin.add_version(tenant.organization_id, tenant.agent_id, FLOW_AGENT)
    csrf = sign_in(web, tenant.api_key)
    form = {
        "csrf": csrf,
        "from": tenant.from_number,
        "label.0": "a",
        "agent.0": tenant.agent_id,
        "version.0": "1",
        "weight.0": "3",
        "label.1": "b",
        "agent.1": tenant.agent_id,
        "version.1": "2",
        "weight.1": "1",
        "label.2": "",  # an empty row is left out
        "agent.2": tenant.agent_id,
        "weight.2": "1",
    }
    assert web.post("/dashboard/admin/splits", data=form, follow_redirects=False).status_code == 303
    [split] = admin.traffic_splits(tenant.organization_id)
    assert [(v.label, str(v.version_spec), v.weight) for v in split.variants] == [
        ("a", "v1", 3),
        ("b", "v2", 1),
    ]
    page = web.get("/dashboard/admin").text.split('id="splits"')[1]
    assert "test agent (v1)" in page and "test agent (v2)" in page
    # Bad rows are the form's 400, naming the field; another organisation's number or agent too.
    for bad in (
        {"weight.0": "x"},
        {"version.1": "9"},
        {"from": other.from_number},
        {"agent.0": other.agent_id},
    ):
        answer = web.post("/dashboard/admin/splits", data={**form, **bad})
        assert answer.status_code == 400, bad
    assert admin.traffic_splits(tenant.organization_id) == [split]
    # Turned off; turning off one that is not there is a 404.
    off = {"csrf": csrf, "from": tenant.from_number}
    assert web.post("/dashboard/admin/splits/remove", data=off, follow_redirects=False).status_code == 303
    assert admin.traffic_splits(tenant.organization_id) == []  # the list holds the active ones
    assert web.post("/dashboard/admin/splits/remove", data=off).status_code == 404


def test_request_a_caller_id(web: TestClient, db: Database, tenant: Tenant) -> None:
    csrf = sign_in(web, tenant.api_key)
    answer = web.post(
        "/dashboard/admin/presentation-numbers",
        data={"csrf": csrf, "number": "0299998888"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    requested = [
        p for p in Admin(db, lambda: NOW).presentation_numbers(tenant.organization_id) if not p.approved
    ]
    assert [p.number for p in requested] == ["+82299998888"]
    page = web.get("/dashboard/admin").text.split('id="presentation-numbers"')[1]
    assert "0299998888" in page and "요청됨" in page
    assert (
        web.post("/dashboard/admin/presentation-numbers", data={"csrf": csrf, "number": "12"}).status_code
        == 400
    )


def test_choose_the_agent_answering_a_number(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    admin = Admin(db, lambda: NOW)
    csrf = sign_in(web, tenant.api_key)
    page = web.get("/dashboard/admin").text.split('id="numbers"')[1]
    assert f'action="/dashboard/admin/numbers/{tenant.from_number}/inbound"' in page
    url = f"/dashboard/admin/numbers/{tenant.from_number}/inbound"
    answer = web.post(url, data={"csrf": csrf, "agent": tenant.agent_id}, follow_redirects=False)
    assert answer.status_code == 303
    answering = {n.number: n.inbound_agent_id for n in admin.numbers(tenant.organization_id)}
    assert answering == {tenant.from_number: tenant.agent_id, tenant.second_number: None}
    row = web.get("/dashboard/admin").text.split(f'data-number="{tenant.from_number}"')[1].split("</tr>")[0]
    assert f'<option value="{tenant.agent_id}" selected>' in row
    # Another organisation's agent is not ours to choose; none refuses incoming calls again.
    assert web.post(url, data={"csrf": csrf, "agent": other.agent_id}).status_code == 404
    assert web.post(url, data={"csrf": csrf, "agent": ""}, follow_redirects=False).status_code == 303
    assert admin.numbers(tenant.organization_id)[0].inbound_agent_id is None
