"""The KPI strip's success rate, on SQLite and PostgreSQL: the verdict or a custom analysis field,
true or a chosen value, over the list's filters; calls without the field are not counted."""

from __future__ import annotations

from typing import Any

from callplane.domain.call import CallAnalysis, CallStatus, Sentiment
from callplane.domain.query import CallQuery, Range
from callplane.store.db import Database
from callplane.store.success import success
from tests.factories import Tenant, make_tenant
from tests.web.conftest import NOW, a_call, insert, queued_call


def _analysis(verdict: bool | None, **fields: Any) -> CallAnalysis:
    custom = [{"name": name, "value": value} for name, value in fields.items()]
    return CallAnalysis("요약", Sentiment.NEUTRAL, custom, call_successful=verdict)


def test_success_rates(db: Database, tenant: Tenant) -> None:
    other = make_tenant(db, NOW, name="other org")
    insert(
        db,
        a_call(tenant, analysis=_analysis(True, booked=True, status="confirmed")),
        a_call(tenant, analysis=_analysis(True, booked=False, status="cancel")),
        a_call(tenant, analysis=_analysis(False, booked=True, status="confirmed")),
        a_call(tenant, analysis=_analysis(None, booked=None, status="unknown")),  # no verdict
        a_call(tenant, analysis=_analysis(False)),  # no custom fields
        a_call(tenant, analysis=None),
        queued_call(tenant),
        a_call(other, analysis=_analysis(True, booked=True, status="confirmed")),
        # Before the period: left out by the filter.
        a_call(tenant, at=NOW - 48 * 3600_000, analysis=_analysis(True, booked=True, status="confirmed")),
    )
    q = CallQuery(tenant.organization_id, listed_at=Range(NOW - 24 * 3600_000, NOW))
    with db.read() as conn:
        verdict = success(conn, q, "call_successful")
        booked = success(conn, q, "booked")
        not_booked = success(conn, q, "booked", False)
        confirmed = success(conn, q, "status", "confirmed")
        missing = success(conn, q, "no_such_field")
        mine_only = success(conn, CallQuery(tenant.organization_id, statuses=(CallStatus.QUEUED,)), "booked")
    assert (verdict.succeeded, verdict.analysed) == (2, 4)
    assert verdict.rate == 0.5
    assert (booked.succeeded, booked.analysed) == (2, 3)
    assert (not_booked.succeeded, not_booked.analysed) == (1, 3)
    assert (confirmed.succeeded, confirmed.analysed) == (2, 4)
    assert (missing.succeeded, missing.analysed, missing.rate) == (0, 0, None)
    assert (mine_only.succeeded, mine_only.analysed) == (0, 0)
