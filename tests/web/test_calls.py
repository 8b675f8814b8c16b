"""The calls list, a call's page, cancel and export, through the real app (server side)."""

from __future__ import annotations

import csv
import io
import re

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from callplane.domain.call import CallAnalysis, CallStatus, DisconnectionReason, Sentiment
from callplane.engine.clock import FixedClock
from callplane.engine.services.admin import Admin
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from callplane.store.schema import calls, webhook_deliveries
from tests.factories import Tenant
from tests.web.conftest import NOW, a_call, csrf_of, insert, queued_call, sign_in

ROW = re.compile(r'data-call-id="([0-9a-f-]+)"')


def _ids(html: str) -> list[str]:
    return ROW.findall(html)


def _summary(web: TestClient, **params: str) -> str:
    """The list's summary (total and KPI strip) as the page loads it after itself."""
    page = web.get("/dashboard/calls", params=params).text
    assert 'id="kpi-calls"' not in page  # not in the page itself: it must not hold the list up
    found = re.search(r'<div id="summary" hx-get="([^"]+)"', page)
    assert found, page
    return web.get(found.group(1).replace("&amp;", "&")).text


def test_the_list_shows_a_call_in_the_organisations_time_zone(
    web: TestClient, db: Database, tenant: Tenant
) -> None:
    call = a_call(tenant, variant_label="B")
    insert(db, call)
    sign_in(web, tenant.api_key)
    page = web.get("/dashboard/calls").text
    assert _ids(page) == [call.id]
    # NOW - 1 h is 2025-12-31 23:00 UTC: 08:00 on 1 January in Seoul.
    assert "2026-01-01 08:00" in page
    assert "test agent@v1" in page and "07011112222" in page and "01012345678" in page
    assert "상대방이 끊음" in page and "1:00" in page and "₩100" in page and "긍정" in page
    Admin(db, lambda: NOW).update_organization(
        tenant.organization_id, {"calling_window": {"timezone": "America/New_York"}}
    )
    assert "2025-12-31 18:00" in web.get("/dashboard/calls").text


def test_filters_reach_the_query(web: TestClient, db: Database, tenant: Tenant) -> None:
    ended = a_call(tenant, metadata={"crm_lead_id": "lead_7", "tier": 3})
    busy = a_call(
        tenant,
        status=CallStatus.NOT_CONNECTED,
        disconnection_reason=DisconnectionReason.DIAL_BUSY,
        duration_ms=0,
        to_number="+821099998888",
        analysis=CallAnalysis(None, Sentiment.NEGATIVE),
        at=NOW - 10 * 24 * 3600_000,  # ten days ago: outside the default 7 days
    )
    queued = queued_call(tenant)
    insert(db, ended, busy, queued)
    sign_in(web, tenant.api_key)
    assert set(_ids(web.get("/dashboard/calls").text)) == {ended.id, queued.id}
    everything = {"preset": "all"}
    assert set(_ids(web.get("/dashboard/calls", params=everything).text)) == {ended.id, busy.id, queued.id}
    cases: list[tuple[dict[str, str | list[str]], set[str]]] = [
        ({"status": ["ended", "not_connected"]}, {ended.id, busy.id}),
        ({"reason": "dial_busy"}, {busy.id}),
        ({"sentiment": "negative"}, {busy.id}),
        ({"to": "01099998888"}, {busy.id}),
        ({"min_s": "30"}, {ended.id}),
        ({"max_s": "10"}, {busy.id}),
        ({"meta": "tier=3"}, {ended.id}),
        ({"meta": 'tier="3"'}, set()),  # typed: the string "3" is not the number 3
        ({"meta": "crm_lead_id=lead_7\ntier=3"}, {ended.id}),
        (
            {"agent": tenant.agent_id, "direction": "outbound", "type": "outbound"},
            {ended.id, busy.id, queued.id},
        ),
        # Days in Seoul: NOW - 1 h is 1 January there; queued calls count by their creation.
        ({"preset": "custom", "since": "2026-01-01", "until": "2026-01-01"}, {ended.id, queued.id}),
        ({"preset": "custom", "since": "2025-12-20", "until": "2025-12-31"}, {busy.id}),
        ({"preset": "today"}, {ended.id, queued.id}),
    ]
    for params, expected in cases:
        page = web.get("/dashboard/calls", params={**everything, **params})
        assert page.status_code == 200, (params, page.text)
        assert set(_ids(page.text)) == expected, params


def test_bad_filters_are_a_400_with_the_form_kept(web: TestClient, tenant: Tenant) -> None:
    sign_in(web, tenant.api_key)
    for params in (
        {"status": "nope"},
        {"min_s": "abc"},
        {"to": "12"},
        {"meta": "no equals sign"},
        {"agent": "x"},
        {"q": "가" * 201},
        {"preset": "custom", "since": "2026-02-01", "until": "2026-01-01"},
        {"cursor": "forged.cursor"},
    ):
        page = web.get("/dashboard/calls", params=params)
        assert page.status_code == 400, params
        assert 'class="problem"' in page.text and 'id="filters"' in page.text
    fragment = web.get(
        "/dashboard/calls",
        params={"min_s": "abc"},
        headers={"HX-Request": "true", "HX-Target": "calls-table"},
    )
    assert fragment.status_code == 400 and "<html" not in fragment.text and "min_s" in fragment.text


def test_korean_search_is_exact_and_highlighted(web: TestClient, db: Database, tenant: Tenant) -> None:
    said = a_call(tenant)
    other = a_call(tenant, transcript=[{"role": "user", "content": "두시 말고 세 시요", "start_at": 0}])
    insert(db, said, other)
    sign_in(web, tenant.api_key)
    page = web.get("/dashboard/calls", params={"q": "두 시"}).text
    assert _ids(page) == [said.id]
    assert "<mark>두 시</mark>" in page
    detail = web.get(f"/dashboard/calls/{said.id}", params={"q": "두 시"}).text
    assert "<mark>두 시</mark>" in detail


def test_a_transcript_cannot_inject_html(web: TestClient, db: Database, tenant: Tenant) -> None:
    call = a_call(
        tenant, transcript=[{"role": "user", "content": "<script>alert(1)</script> 안녕", "start_at": 0}]
    )
    insert(db, call)
    sign_in(web, tenant.api_key)
    for page in (
        web.get("/dashboard/calls", params={"q": "안녕"}).text,
        web.get(f"/dashboard/calls/{call.id}", params={"q": "script"}).text,
    ):
        assert "<script>alert" not in page
        assert "&lt;" in page


def test_keyset_pages_cover_the_list_once(
    web: TestClient, db: Database, clock: FixedClock, tenant: Tenant
) -> None:
    calls = [a_call(tenant, at=NOW - 60_000 * (i + 1)) for i in range(120)]
    insert(db, *calls)
    sign_in(web, tenant.api_key)
    seen: list[str] = []
    url: str | None = "/dashboard/calls"
    while url:
        page = web.get(url, headers={"HX-Request": "true", "HX-Target": "calls-table"})
        assert page.status_code == 200 and "<html" not in page.text  # the table alone
        seen += _ids(page.text)
        # "Last 7 days" is counted from the first page's moment on every page: a cursor is
        # bound to its query, which must not move as time passes.
        clock.advance(60_000)
        found = re.search(r'id="next-page" href="([^"]+)"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [c.id for c in calls]
    assert "120 건" in _summary(web)


def test_a_call_page_shows_the_call(web: TestClient, db: Database, tenant: Tenant) -> None:
    at = NOW - 3600_000 + 2000  # a_call's answered_at: transcript times count from it
    call = a_call(
        tenant,
        transcript=[
            {"role": "agent", "content": "예약을 확인하겠습니다.", "start_at": at, "end_at": at + 2000},
            {
                "role": "tool_call_invocation",
                "tool_call_id": "t1",
                "name": "lookup_booking",
                "arguments": '{"id": 7}',
            },
            {"role": "tool_call_result", "tool_call_id": "t1", "content": '{"time": "14:00"}'},
            {"role": "user", "content": "감사합니다", "start_at": at + 65_000, "end_at": at + 66_000},
        ],
        metadata={"crm_lead_id": "lead_42"},
    )
    insert(db, call)
    sign_in(web, tenant.api_key)
    page = web.get(f"/dashboard/calls/{call.id}").text
    for text in (
        "lead_42",
        "홍길동",
        "lookup_booking",
        "{&#34;id&#34;: 7}",
        "1:05",
        "감사합니다",
        "예약 확인",
        "2026-01-01 08:00:00",
        "₩100",
        call.id,
    ):
        assert text in page, text
    assert "webhooks" in page


def test_another_organisations_call_is_a_404(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    theirs = queued_call(other)
    insert(db, theirs)
    token = sign_in(web, tenant.api_key)
    assert web.get(f"/dashboard/calls/{theirs.id}").status_code == 404
    assert web.get("/dashboard/calls/not-a-uuid").status_code == 404
    assert web.post(f"/dashboard/calls/{theirs.id}/cancel", data={"csrf": token}).status_code == 404
    sign_in(web, other.api_key)
    assert "queued" in web.get(f"/dashboard/calls/{theirs.id}").text


def test_cancel_a_queued_call(web: TestClient, db: Database, tenant: Tenant) -> None:
    call = queued_call(tenant)
    insert(db, call)
    token = sign_in(web, tenant.api_key)
    answer = web.post(f"/dashboard/calls/{call.id}/cancel", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303
    page = web.get(answer.headers["location"]).text
    assert "통화를 취소했습니다" in page and "status-canceled" in page and 'id="cancel-call"' not in page
    again = web.post(f"/dashboard/calls/{call.id}/cancel", data={"csrf": token})
    assert again.status_code == 409


def test_export_streams_the_filtered_set(web: TestClient, db: Database, tenant: Tenant) -> None:
    calls = [a_call(tenant, at=NOW - 60_000 * (i + 1), variant_label="=HYPERLINK(1)") for i in range(620)]
    insert(db, *calls, queued_call(tenant))
    sign_in(web, tenant.api_key)
    answer = web.get("/dashboard/calls/export.csv", params={"status": "ended"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    text = answer.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert [r["call_id"] for r in rows] == [c.id for c in calls]
    assert rows[0]["from_number"] == tenant.from_number  # a number is not "escaped"
    assert rows[0]["variant"] == "'=HYPERLINK(1)"  # a formula is
    lines = web.get("/dashboard/calls/export.jsonl", params={"status": "ended"}).content.splitlines()
    assert [orjson.loads(x)["call_id"] for x in lines] == [c.id for c in calls]
    assert orjson.loads(lines[0])["variant"] == "=HYPERLINK(1)"  # JSON runs nothing
    assert web.get("/dashboard/calls/export.xlsx").status_code == 404


def test_the_kpi_strip_sums_the_filtered_set(web: TestClient, db: Database, tenant: Tenant) -> None:
    talked = [a_call(tenant, at=NOW - 60_000 * (i + 1)) for i in range(3)]  # answered +2 s, ended +60 s
    missed = a_call(
        tenant,
        status=CallStatus.NOT_CONNECTED,
        disconnection_reason=DisconnectionReason.DIAL_NO_ANSWER,
        answered_at=None,
        duration_ms=30_000,
        cost_minor=None,
        analysis=None,
    )
    insert(db, *talked, missed, queued_call(tenant))
    sign_in(web, tenant.api_key)
    page = _summary(web)
    assert 'id="kpi-calls">5<' in page
    assert 'id="kpi-connect">75%<' in page  # 3 answered of 4 dialled (the queued one was not)
    assert 'id="kpi-talk">0:58<' in page
    assert 'id="kpi-cost">₩300<' in page
    filtered = _summary(web, status="not_connected")
    assert 'id="kpi-calls">1<' in filtered and 'id="kpi-connect">0%<' in filtered
    assert 'id="kpi-talk">—<' in filtered and 'id="kpi-cost">₩0<' in filtered
    searched = _summary(web, q="두 시")  # the queued call has no transcript
    assert 'id="kpi-calls">4<' in searched


def test_the_first_page_refreshes_itself_while_calls_are_in_progress(
    web: TestClient, db: Database, tenant: Tenant
) -> None:
    insert(db, a_call(tenant))
    sign_in(web, tenant.api_key)
    assert 'hx-trigger="every' not in web.get("/dashboard/calls").text
    queued = queued_call(tenant)
    insert(db, queued)
    page = web.get("/dashboard/calls").text
    assert 'hx-trigger="every 5s"' in page
    assert 'hx-trigger="every 5s"' in web.get(f"/dashboard/calls/{queued.id}").text


def test_a_canceled_calls_webhook_delivery_is_on_its_page(
    web: TestClient, db: Database, tenant: Tenant
) -> None:
    WebhookAdmin(db, lambda: NOW, allow_private=True).add(
        tenant.organization_id, "http://127.0.0.1:9/hooks", events=["call_ended"]
    )
    call = queued_call(tenant)
    insert(db, call)
    token = sign_in(web, tenant.api_key)
    web.post(f"/dashboard/calls/{call.id}/cancel", data={"csrf": token})
    page = web.get(f"/dashboard/calls/{call.id}").text
    assert "call_ended" in page and "http://127.0.0.1:9/hooks" in page and "delivery-pending" in page


def test_a_recorded_call_has_a_player_and_lines_that_seek(
    web: TestClient, db: Database, tenant: Tenant
) -> None:
    recorded = a_call(tenant, recording_key=f"{tenant.organization_id}/abc.wav")
    plain = a_call(tenant)
    insert(db, recorded, plain)
    sign_in(web, tenant.api_key)
    page = web.get(f"/dashboard/calls/{recorded.id}").text
    # The player's source is a signed link minted for this page, not the stored key.
    [src] = re.findall(r'<audio id="recording" controls preload="metadata" src="([^"]+)">', page)
    assert "/recordings/" in src and src.endswith(".wav")
    assert "abc.wav" not in src
    assert 'data-start="0" data-end="3000"' in page and 'data-start="3500" data-end="6000"' in page
    other = web.get(f"/dashboard/calls/{plain.id}").text
    assert 'id="recording"' not in other and "data-start" not in other


def test_a_finished_delivery_can_be_redelivered_from_the_calls_page(
    web: TestClient, db: Database, tenant: Tenant
) -> None:
    webhooks = WebhookAdmin(db, lambda: NOW, allow_private=True)
    webhooks.add(tenant.organization_id, "http://127.0.0.1:9/hooks", events=["call_ended"])
    call = queued_call(tenant)
    insert(db, call)
    token = sign_in(web, tenant.api_key)
    web.post(f"/dashboard/calls/{call.id}/cancel", data={"csrf": token})
    [delivery] = webhooks.deliveries(tenant.organization_id, call.id)
    assert f"redeliver-{delivery.id}" not in web.get(f"/dashboard/calls/{call.id}").text  # pending
    with db.write() as conn:  # the relay gave up on it
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id)
            .values(status="failed", finished_at=NOW)
        )
    page = web.get(f"/dashboard/calls/{call.id}").text
    assert f'id="redeliver-{delivery.id}"' in page
    done = web.post(
        f"/dashboard/calls/{call.id}/deliveries/{delivery.id}/redeliver", data={"csrf": csrf_of(page)}
    )
    assert done.status_code == 200 and "이벤트를 다시 보내도록 예약했습니다." in done.text
    first, again = webhooks.deliveries(tenant.organization_id, call.id)
    assert (first.id, again.event_id, again.status.value) == (delivery.id, delivery.event_id, "pending")
    other = queued_call(tenant)
    insert(db, other)
    wrong_call = web.post(
        f"/dashboard/calls/{other.id}/deliveries/{delivery.id}/redeliver", data={"csrf": csrf_of(page)}
    )
    assert wrong_call.status_code == 404


def test_a_call_page_shows_json_values_as_json(web: TestClient, db: Database, tenant: Tenant) -> None:
    """A tool's arguments and an analysis field as the analyser stores them ({name, value}):
    their values, in JSON with Korean kept, not Python's repr of the dict around them."""
    campaign_id = "01a23c00-0000-7000-8000-000000000001"
    call = a_call(
        tenant,
        transcript=[
            {
                "role": "tool_call_invocation",
                "tool_call_id": "t1",
                "name": "book",
                "arguments": {"시각": "14:00"},
            },
        ],
        analysis=CallAnalysis(
            "예약 확인",
            Sentiment.POSITIVE,
            [{"name": "appointment_status", "value": "confirmed"}, {"name": "slots", "value": [1, 2]}],
        ),
        metadata={"lead": {"id": 7}},
        campaign_id=campaign_id,
        campaign_task=3,
    )
    insert(db, call)
    sign_in(web, tenant.api_key)
    page = web.get(f"/dashboard/calls/{call.id}").text
    fields = re.findall(r'<dd class="custom-field">([^<]*)</dd>', page)
    assert fields == ["confirmed", "[1,2]"]
    assert "{&#34;시각&#34;:&#34;14:00&#34;}" in page and "&#39;" not in page
    assert "{&#34;id&#34;:7}" in page
    link = re.search(r'<a id="campaign-link" href="([^"]+)">', page)
    assert link is not None and link.group(1) == f"/dashboard/campaigns/{campaign_id}"


def test_the_list_filters_by_campaign(web: TestClient, db: Database, tenant: Tenant) -> None:
    campaign_id = "01a23c00-0000-7000-8000-000000000002"
    mine = a_call(tenant, campaign_id=campaign_id, campaign_task=0)
    insert(db, mine, a_call(tenant), a_call(tenant, campaign_id="01a23c00-0000-7000-8000-000000000003"))
    sign_in(web, tenant.api_key)
    assert len(_ids(web.get("/dashboard/calls", params={"preset": "all"}).text)) == 3
    page = web.get("/dashboard/calls", params={"preset": "all", "campaign": campaign_id}).text
    assert _ids(page) == [mine.id]
    assert f'name="campaign" value="{campaign_id}"' in page
    # The export is the same filtered set.
    exported = web.get("/dashboard/calls/export.jsonl", params={"preset": "all", "campaign": campaign_id})
    assert [orjson.loads(line)["call_id"] for line in exported.text.splitlines()] == [mine.id]
    bad = web.get("/dashboard/calls", params={"campaign": "not-an-id"})
    assert bad.status_code == 400 and "campaign" in bad.text


def test_end_a_live_call_from_its_page(web: TestClient, db: Database, tenant: Tenant) -> None:
    live = a_call(tenant, status=CallStatus.ONGOING, end_at=None, duration_ms=None, disconnection_reason=None)
    ended = a_call(tenant)
    insert(db, live, ended)
    token = sign_in(web, tenant.api_key)
    page = web.get(f"/dashboard/calls/{live.id}").text
    assert 'id="cancel-call"' in page and "통화 종료" in page
    answer = web.post(f"/dashboard/calls/{live.id}/cancel", data={"csrf": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=end_requested")
    # The worker holding the call is asked to end it: the request is on the row it polls.
    with db.read() as conn:
        asked = conn.execute(select(calls.c.end_requested_at).where(calls.c.id == live.id)).scalar_one()
    assert asked == NOW
    assert "종료를 요청했습니다" in web.get(answer.headers["location"]).text
    # A finished call has no button, and a forged post is a 409, not a change.
    assert 'id="cancel-call"' not in web.get(f"/dashboard/calls/{ended.id}").text
    assert web.post(f"/dashboard/calls/{ended.id}/cancel", data={"csrf": token}).status_code == 409
