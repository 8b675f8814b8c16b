"""Feeding a campaign: the system pause when the organisation's balance runs out, and its
resumption by itself once the balance is topped up (a user's pause never resumes by itself)."""

from __future__ import annotations

from sqlalchemy import select

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.campaign import CampaignStatus, PausedBy, TaskStatus
from callplane.engine.jobs import feeder
from callplane.engine.jobs.dispatcher import dispatch
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.campaigns import CampaignService
from callplane.store import campaign_tasks as task_store
from callplane.store.db import Database
from callplane.store.schema import calls
from tests.engine.services.test_campaigns import draft
from tests.factories import Tenant

NOW = 1_767_225_600_000


def test_a_used_up_balance_pauses_the_campaign_and_a_top_up_resumes_it(db: Database, tenant: Tenant) -> None:
    admin = Admin(db, lambda: NOW)
    admin.update_organization(tenant.organization_id, {"balance": "0.00"})
    service = CampaignService(db, lambda: NOW)
    created = service.create(tenant.organization_id, draft(tenant, 5, concurrency=2))
    assert created.view is not None
    cid = created.view.campaign.id
    calls_service = CallService(db, lambda: NOW)
    assert feeder.feed(db, calls_service, NOW).created == 0
    view = service.get(tenant.organization_id, cid)
    assert view.campaign.status is CampaignStatus.PAUSED and view.campaign.paused_by is PausedBy.SYSTEM
    assert view.counters.remaining == 5 and view.counters.failed == 0
    assert feeder.feed(db, calls_service, NOW + 1000).created == 0  # still nothing to spend
    admin.update_organization(tenant.organization_id, {"balance": "5000.00"})
    assert feeder.feed(db, calls_service, NOW + 2000).created == 2
    view = service.get(tenant.organization_id, cid)
    assert view.campaign.status is CampaignStatus.ONGOING and view.campaign.paused_by is None
    # It had never started: the top-up is its start.
    assert view.campaign.started_at == NOW + 2000


def test_a_call_refused_for_balance_gives_its_attempt_back(db: Database, tenant: Tenant) -> None:
    admin = Admin(db, lambda: NOW)
    service = CampaignService(db, lambda: NOW)
    created = service.create(tenant.organization_id, draft(tenant, 1, concurrency=1))
    assert created.view is not None
    cid = created.view.campaign.id
    calls_service = CallService(db, lambda: NOW)
    assert feeder.feed(db, calls_service, NOW).created == 1
    # The balance runs out between the feeder's pass and the dial: the dispatcher refuses it.
    admin.update_organization(tenant.organization_id, {"balance": "0.00"})
    dispatch(db, owner="w", now=NOW + 1, capacity=10, lease_ms=30_000, scan_limit=100)
    with db.read() as conn:
        [refused] = conn.execute(select(calls.c.status, calls.c.disconnection_reason)).all()
    assert refused.status == CallStatus.ERROR.value
    assert refused.disconnection_reason == DisconnectionReason.INSUFFICIENT_BALANCE.value
    feeder.feed(db, calls_service, NOW + 2)
    with db.read() as conn:
        [task] = task_store.tasks_page(conn, tenant.organization_id, cid, after_seq=-1, limit=1)
    assert task.status is TaskStatus.PENDING and task.attempts == 0 and len(task.call_ids) == 1
    view = service.get(tenant.organization_id, cid)
    assert view.campaign.paused_by is PausedBy.SYSTEM and view.counters.remaining == 1
    # The user pauses it too: now it is theirs, and a top-up does not resume it.
    assert service.pause(tenant.organization_id, cid).campaign.paused_by is PausedBy.USER
    admin.update_organization(tenant.organization_id, {"balance": "5000.00"})
    assert feeder.feed(db, calls_service, NOW + 3).created == 0
    assert service.resume(tenant.organization_id, cid).campaign.status is CampaignStatus.ONGOING
    assert feeder.feed(db, calls_service, NOW + 4).created == 1
    with db.read() as conn:
        [task] = task_store.tasks_page(conn, tenant.organization_id, cid, after_seq=-1, limit=1)
    assert task.attempts == 1 and len(task.call_ids) == 2


def test_a_campaign_with_nothing_left_ends_even_without_balance(db: Database, tenant: Tenant) -> None:
    service = CampaignService(db, lambda: NOW)
    created = service.create(tenant.organization_id, draft(tenant, 1, concurrency=1))
    assert created.view is not None
    cid = created.view.campaign.id
    calls_service = CallService(db, lambda: NOW)
    assert feeder.feed(db, calls_service, NOW).created == 1
    with db.read() as conn:
        [call_id] = conn.execute(select(calls.c.id)).scalars()
    calls_service.cancel(tenant.organization_id, call_id)
    Admin(db, lambda: NOW).update_organization(tenant.organization_id, {"balance": "0.00"})
    assert feeder.feed(db, calls_service, NOW + 1).finished == 1
    view = service.get(tenant.organization_id, cid)
    assert view.campaign.status is CampaignStatus.FAIL and view.campaign.paused_by is None
