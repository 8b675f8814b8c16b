"""The analytics page and the reports it draws from, through the real app (server side)."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from callplane.domain.call import CallAnalysis, CallStatus, DisconnectionReason, Sentiment
from callplane.domain.query import CallQuery, Range
from callplane.store import reports
from callplane.store.db import Database
from tests.factories import Tenant
from tests.web.conftest import NOW, a_call, insert, queued_call, sign_in

HOUR = 3_600_000


def test_report_groups_the_listed_calls(db: Database, tenant: Tenant, other: Tenant) -> None:
    ended = a_call(tenant, at=NOW - 2 * HOUR, variant_label="A")
    busy = a_call(
        tenant,
        at=NOW - 2 * HOUR + 60_000,
        status=CallStatus.NOT_CONNECTED,
        disconnection_reason=DisconnectionReason.DIAL_BUSY,
        answered_at=None,
        end_at=NOW - 2 * HOUR + 70_000,
        duration_ms=0,
        cost_minor=0,
        analysis=CallAnalysis(None, Sentiment.NEGATIVE),
        variant_label="B",
    )
    late = a_call(tenant, at=NOW - HOUR, cost_minor=5_000)
    queued = queued_call(tenant, at=NOW - 30 * 60_000)
    insert(db, ended, busy, late, queued, a_call(other, at=NOW - HOUR))
    query = CallQuery(tenant.organization_id, listed_at=Range(NOW - 3 * HOUR, NOW))
    with db.read() as conn:
        report = reports.report(conn, query)
        kpis = reports.kpis(conn, query)
    assert report.kpis == kpis
    assert (kpis.calls, kpis.dialled, kpis.connected, kpis.talked) == (4, 3, 2, 2)
    assert kpis.cost_minor == 15_000 and kpis.average_talk_ms == 58_000
    by_hour = {(h.hour, h.status): h.tally.calls for h in report.hours}
    # `listed_at` is the start time once dialled, creation before: the queued call is in its own hour.
    assert by_hour == {
        ((NOW - 2 * HOUR) // HOUR, CallStatus.ENDED): 1,
        ((NOW - 2 * HOUR) // HOUR, CallStatus.NOT_CONNECTED): 1,
        ((NOW - HOUR) // HOUR, CallStatus.ENDED): 1,
        ((NOW - 30 * 60_000 - 1000) // HOUR, CallStatus.QUEUED): 1,
    }
    agents = {(a.agent_id, a.variant_label): a.tally.calls for a in report.agents}
    assert agents == {(tenant.agent_id, "A"): 1, (tenant.agent_id, "B"): 1, (tenant.agent_id, None): 2}
    outcomes = {(o.reason, o.sentiment): o.tally.calls for o in report.outcomes}
    assert outcomes == {
        (DisconnectionReason.USER_HANGUP, Sentiment.POSITIVE): 2,
        (DisconnectionReason.DIAL_BUSY, Sentiment.NEGATIVE): 1,
        (None, None): 1,
    }


def test_the_analytics_page_draws_the_charts(web: TestClient, db: Database, tenant: Tenant) -> None:
    insert(
        db,
        a_call(tenant, at=NOW - 2 * HOUR, variant_label="A"),
        a_call(tenant, at=NOW - 26 * HOUR, variant_label="B", cost_minor=20_000),
        a_call(
            tenant,
            at=NOW - 3 * HOUR,
            status=CallStatus.NOT_CONNECTED,
            disconnection_reason=DisconnectionReason.DIAL_NO_ANSWER,
            answered_at=None,
            analysis=None,
        ),
    )
    sign_in(web, tenant.api_key)
    page = web.get("/dashboard/analytics", params={"preset": "7d"})
    assert page.status_code == 200
    html = page.text
    assert re.search(r'id="kpi-calls">3<', html)
    assert "일별 통화 수" in html  # seven days: daily buckets
    # Bars with their exact figure in the tooltip, in Korean; 1 January in Seoul holds two calls.
    assert "2026-01-01 · 종료: 1" in html and "2026-01-01 · 미연결: 1" in html
    assert "2025-12-31 · 종료: 1" in html
    assert "응답 없음: 1" in html and "상대방이 끊음: 2" in html
    assert "A (test agent)" in html and "B (test agent)" in html
    assert "2025-12-31: ₩200" in html
    hourly = web.get("/dashboard/analytics", params={"preset": "24h"}).text
    assert "시간별 통화 수" in hourly and "01-01 07:00 · 종료: 1" in hourly
    english = web.get("/dashboard/analytics", params={"preset": "7d"}, headers={"accept-language": "en"})
    assert "Calls per day by status" in english.text and "no answer: 1" in english.text


def test_analytics_shows_only_the_viewers_calls(
    web: TestClient, db: Database, tenant: Tenant, other: Tenant
) -> None:
    insert(db, a_call(other, at=NOW - HOUR))
    sign_in(web, tenant.api_key)
    html = web.get("/dashboard/analytics").text
    assert re.search(r'id="kpi-calls">0<', html)


def test_a_bad_period_is_a_400_page(web: TestClient, tenant: Tenant) -> None:
    sign_in(web, tenant.api_key)
    answer = web.get("/dashboard/analytics", params={"preset": "custom", "since": "yesterday"})
    assert answer.status_code == 400 and "since" in answer.text


def test_the_kpi_strip_has_a_success_rate_of_any_analysis_field(
    web: TestClient, db: Database, tenant: Tenant
) -> None:
    def analysed(verdict: bool, status: str) -> CallAnalysis:
        return CallAnalysis("요약", Sentiment.NEUTRAL, [{"name": "status", "value": status}], verdict)

    insert(
        db,
        a_call(tenant, analysis=analysed(True, "confirmed")),
        a_call(tenant, analysis=analysed(True, "cancel")),
        a_call(tenant, analysis=analysed(False, "confirmed")),
        a_call(tenant, analysis=analysed(False, "cancel")),
        a_call(tenant, analysis=analysed(False, "reschedule")),
    )
    sign_in(web, tenant.api_key)

    def strip(path: str, **params: str) -> str:
        page = web.get(path, params=params).text
        summary = re.search(r'<div id="summary" hx-get="([^"]+)"', page)
        if summary:  # the calls list loads its strip after the page, with the set's total
            page = web.get(html.unescape(summary.group(1))).text
        slot = re.search(r'id="kpi-success-slot" hx-get="([^"]+)"', page)
        assert slot, page
        fragment = web.get(html.unescape(slot.group(1))).text
        found = re.search(
            r'id="kpi-success">([^<]*)</div><div class="label">[^<]*<code>([^<]*)</code> · ([^<]*)<', fragment
        )
        assert found, fragment
        return " ".join(found.groups())

    for path in ("/dashboard/analytics", "/dashboard/calls"):
        assert strip(path) == "40% call_successful 2/5", path
        assert strip(path, success="status=confirmed") == "40% status=confirmed 2/5", path
        page = web.get(path, params={"success": "status=confirmed"}).text
        assert 'name="success" value="status=confirmed"' in page
        assert strip(path, success="nothing_like_it") == "— nothing_like_it 0/0"
        assert web.get(path, params={"success": "bad field!"}).status_code == 400, path
    # The fragment keeps the list's filters: a period with none of the calls has no rate.
    period = {"preset": "custom", "since": "2020-01-01", "until": "2020-01-02"}
    empty = web.get("/dashboard/analytics/success", params=period)
    assert empty.status_code == 200 and 'id="kpi-success">—<' in empty.text and "0/0" in empty.text
