"""`dialing.outlook` tells what the next claim pass does with a queued call: checked against
the pass itself, on the same data."""

from __future__ import annotations

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.limits import Verdict
from callplane.engine.dialing import outlook
from callplane.engine.jobs.dispatcher import dispatch
from callplane.engine.services.admin import Admin
from callplane.store import calls as call_store
from callplane.store import orgs
from callplane.store.db import Database
from tests.factories import Tenant, make_tenant
from tests.web.conftest import NOW, a_call, insert, queued_call

MINUTE = 60_000


def _outlook(db: Database, tenant: Tenant, call_id: str) -> Verdict:
    with db.read() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)
        org = orgs.get_organization(conn, tenant.organization_id)
        return outlook(conn, org, call, NOW).decision.verdict


def _status(db: Database, tenant: Tenant, call_id: str) -> tuple[CallStatus, DisconnectionReason | None]:
    with db.read() as conn:
        call = call_store.get_call(conn, tenant.organization_id, call_id)
        return call.status, call.disconnection_reason


def _pass(db: Database) -> None:
    dispatch(db, owner="w1", now=NOW, capacity=10, lease_ms=30_000, scan_limit=100)


def test_a_reached_daily_cap_is_refused_as_the_outlook_said(db: Database) -> None:
    tenant = make_tenant(db, NOW)
    Admin(db, lambda: NOW).update_organization(tenant.organization_id, {"daily_call_limit": 1})
    waiting = queued_call(tenant, at=NOW - MINUTE)
    insert(db, a_call(tenant, at=NOW - 30 * MINUTE), waiting)
    assert _outlook(db, tenant, waiting.id) is Verdict.REFUSE
    _pass(db)
    assert _status(db, tenant, waiting.id) == (CallStatus.ERROR, DisconnectionReason.DAILY_CALL_LIMIT_REACHED)


def test_full_concurrency_waits_as_the_outlook_said(db: Database) -> None:
    tenant = make_tenant(db, NOW)
    Admin(db, lambda: NOW).update_organization(tenant.organization_id, {"max_concurrent_calls": 1})
    live = a_call(tenant, status=CallStatus.ONGOING, end_at=None, duration_ms=None, disconnection_reason=None)
    waiting = queued_call(tenant, at=NOW - MINUTE)
    insert(db, live, waiting)
    assert _outlook(db, tenant, waiting.id) is Verdict.WAIT
    _pass(db)
    assert _status(db, tenant, waiting.id) == (CallStatus.QUEUED, None)


def test_a_call_with_room_is_dialled_as_the_outlook_said(db: Database) -> None:
    tenant = make_tenant(db, NOW)
    waiting = queued_call(tenant, at=NOW - MINUTE)
    insert(db, waiting)
    assert _outlook(db, tenant, waiting.id) is Verdict.DIAL
    _pass(db)
    assert _status(db, tenant, waiting.id)[0] is CallStatus.DIALING
