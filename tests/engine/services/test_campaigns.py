"""Campaigns on the worker, on a virtual-time loop, against both databases.

The scripted line stands in for callees; every assertion is about what the database says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy import func, select

from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.domain.campaign import (
    CampaignStatus,
    Counters,
    NewTask,
    RetryRule,
    RowProblem,
    TaskStatus,
    Windows,
)
from callplane.domain.errors import IdempotencyMismatch, NotFound, ValidationFailed
from callplane.domain.org import CallingWindow
from callplane.domain.phone import parse_kr
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.jobs import feeder, reaper
from callplane.engine.jobs.dispatcher import dispatch
from callplane.engine.jobs.worker import Worker, WorkerConfig
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.campaigns import CampaignDraft, CampaignService, View
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import campaign_tasks as task_store
from callplane.store import campaigns as campaign_store
from callplane.store.db import Database
from callplane.store.schema import calls, webhook_deliveries, webhook_events
from tests.engine.scripted import Script, ScriptedConductor, run_until
from tests.factories import Tenant, make_tenant

CONFIG = WorkerConfig(
    capacity=20, lease_s=30, heartbeat_s=5, poll_interval_s=1, reaper_interval_s=5, run_relay=False
)
SEOUL = ZoneInfo("Asia/Seoul")
#: 2026-03-02 (a Monday) 08:30 in Seoul.
MONDAY_0830 = int(datetime(2026, 3, 2, 8, 30, tzinfo=SEOUL).timestamp() * 1000)


def number(i: int) -> str:
    return parse_kr(f"010{5000_0000 + i:08d}", "to_number")


def draft(tenant: Tenant, count: int, **overrides: Any) -> CampaignDraft:
    values: dict[str, Any] = {
        "name": "봄 캠페인",
        "from_number": tenant.from_number,
        "agent_id": tenant.agent_id,
        "tasks": [NewTask(number(i), {"customer_name": f"고객{i}"}, {"row": i}) for i in range(count)],
        "window": Windows((CallingWindow(start_min=0, end_min=1440),)),
        "concurrency": 3,
    }
    values.update(overrides)
    return CampaignDraft(**values)


def campaign_calls(db: Database, tenant: Tenant, campaign_id: str) -> list[Any]:
    with db.read() as conn:
        return conn.execute(
            select(
                calls.c.id, calls.c.status, calls.c.start_at, calls.c.to_number, calls.c.campaign_task
            ).where(calls.c.organization_id == tenant.organization_id, calls.c.campaign_id == campaign_id)
        ).all()


def finished(service: CampaignService, tenant: Tenant, campaign_id: str) -> Callable[[], bool]:
    def check() -> bool:
        return service.get(tenant.organization_id, campaign_id).campaign.finished_at is not None

    return check


def test_a_campaign_never_exceeds_its_concurrency_retries_no_answers_and_counts_exactly(
    db: Database, tenant: Tenant
) -> None:
    tries: Counter[str] = Counter()

    def script(call: Call) -> Script:
        # Rows 0, 5, 10, … never answer; rows 3, 8, 13, … are busy the first time only.
        seq = int(call.metadata["row"])
        tries[call.to_number or ""] += 1
        if seq % 5 == 0:
            return Script(answer=False)
        if seq % 5 == 3 and tries[call.to_number or ""] == 1:
            return Script(answer=False, not_connected_reason=DisconnectionReason.DIAL_BUSY)
        return Script(talk_s=20)

    samples: list[int] = []

    async def main() -> tuple[View, ScriptedConductor]:
        clock = LoopClock()
        service = CampaignService(db, clock.now_ms)
        rule = RetryRule(max_attempts=2, interval_min=10)
        created = service.create(tenant.organization_id, draft(tenant, 25, retry=rule))
        assert created.view is not None
        cid = created.view.campaign.id
        conductor = ScriptedConductor(clock, script)
        worker = Worker(db, conductor, clock=clock, config=CONFIG)

        def snapshot() -> tuple[int, Counters, list[Any]]:
            with db.read() as conn:
                live = campaign_store.live_calls(conn, tenant.organization_id, cid)
            c = service.get(tenant.organization_id, cid).counters
            return live, c, list(campaign_calls(db, tenant, cid))

        def sample() -> None:
            # The worker's database work runs in threads beside this check: compare a moment
            # in which nothing moved (two identical snapshots in a row).
            first, second = snapshot(), snapshot()
            while first != second:
                first, second = second, snapshot()
            live, c, rows = first
            samples.append(live)
            assert c.completed + c.failed + c.in_progress + c.remaining == c.total == 25
            # Exact at every moment, against a count of the calls themselves.
            assert c.completed == sum(1 for r in rows if r.status == CallStatus.ENDED.value)
            assert c.in_progress == sum(1 for r in rows if not CallStatus(r.status).is_terminal)
            assert c.active_concurrency == live

        await run_until(worker, finished(service, tenant, cid), limit_s=4 * 3600, every_s=0.5, on_tick=sample)
        return service.get(tenant.organization_id, cid), conductor

    view, conductor = run_virtual(main())
    assert max(samples) == 3 and conductor.max_live == 3
    assert view.campaign.status is CampaignStatus.SUCCESS
    rows = campaign_calls(db, tenant, view.campaign.id)
    # 25 first calls; the 5 no-answers (rows 0, 5, …) and 5 busies (rows 3, 8, …) each once more.
    assert len(rows) == 35
    assert all(CallStatus(r.status).is_terminal for r in rows)
    ended = sum(1 for r in rows if r.status == CallStatus.ENDED.value)
    assert view.counters.completed == ended == 20
    assert view.counters.failed == 5 and view.counters.remaining == view.counters.in_progress == 0
    assert set(conductor.dialed.values()) == {1}  # no call was dialled twice
    with db.read() as conn:
        tasks = task_store.tasks_page(conn, tenant.organization_id, view.campaign.id, after_seq=-1, limit=100)
    assert sum(t.attempts for t in tasks) == len(rows)
    assert sorted({len(t.call_ids) for t in tasks}) == [1, 2]


def test_a_campaign_dials_nothing_outside_its_windows(db: Database, tenant: Tenant) -> None:
    # 09:00–09:05 and 13:00–13:05 Seoul: it calls in both, and never between them.
    window = Windows(
        (CallingWindow(start_min=9 * 60, end_min=9 * 60 + 5), CallingWindow(start_min=780, end_min=785))
    )

    async def main() -> View:
        clock = LoopClock(MONDAY_0830)
        service = CampaignService(db, clock.now_ms)
        created = service.create(tenant.organization_id, draft(tenant, 12, window=window, concurrency=2))
        assert created.view is not None
        # A pass every 30 s keeps a day of loop time cheap; every dial is still checked when made.
        config = WorkerConfig(
            capacity=20, poll_interval_s=30, heartbeat_s=10, reaper_interval_s=30, run_relay=False
        )
        worker = Worker(db, ScriptedConductor(clock, Script(talk_s=60)), clock=clock, config=config)
        done = finished(service, tenant, created.view.campaign.id)
        await run_until(worker, done, limit_s=2 * 86400, every_s=300)
        return service.get(tenant.organization_id, created.view.campaign.id)

    view = run_virtual(main())
    rows = campaign_calls(db, tenant, view.campaign.id)
    assert len(rows) == 12
    hours = set()
    for row in rows:
        local = datetime.fromtimestamp(row.start_at / 1000, tz=SEOUL)
        assert local.hour in (9, 13) and local.minute < 5, local
        hours.add(local.hour)
    assert hours == {9, 13}


def test_pause_stops_new_dials_resume_goes_on_and_cancel_ends_queued_calls(
    db: Database, tenant: Tenant
) -> None:
    async def main() -> tuple[View, list[int], int, int]:
        clock = LoopClock()
        service = CampaignService(db, clock.now_ms)
        created = service.create(tenant.organization_id, draft(tenant, 40, concurrency=2))
        assert created.view is not None
        cid = created.view.campaign.id
        worker = Worker(db, ScriptedConductor(clock, Script(talk_s=30)), clock=clock, config=CONFIG)
        marks: list[int] = []

        def step() -> None:
            counters = service.get(tenant.organization_id, cid).counters
            if not marks and counters.completed >= 4:
                assert service.pause(tenant.organization_id, cid).campaign.status is CampaignStatus.PAUSED
                marks.append(clock.now_ms())
            elif len(marks) == 1 and clock.now_ms() - marks[0] > 300_000:
                marks.append(clock.now_ms())
                assert service.resume(tenant.organization_id, cid).campaign.status is CampaignStatus.ONGOING
            elif len(marks) == 2 and counters.completed >= 10:
                marks.append(clock.now_ms())
                view = service.cancel(tenant.organization_id, cid)
                assert view.campaign.status is CampaignStatus.CANCELED

        await run_until(worker, finished(service, tenant, cid), limit_s=3600, on_tick=step)
        paused_at, resumed_at, _ = marks
        return service.get(tenant.organization_id, cid), marks, paused_at, resumed_at

    view, _, paused_at, resumed_at = run_virtual(main())
    rows = campaign_calls(db, tenant, view.campaign.id)
    started = [r.start_at for r in rows if r.start_at is not None]
    # Within one claim pass (1 s) of the pause, nothing new is dialled until the resume.
    assert not [s for s in started if paused_at + 1000 < s < resumed_at]
    assert [s for s in started if s >= resumed_at]
    assert view.campaign.status is CampaignStatus.CANCELED and view.campaign.finished_at is not None
    c = view.counters
    assert c.remaining == c.in_progress == 0 and c.completed + c.failed == 40
    assert c.completed == sum(1 for r in rows if r.status == CallStatus.ENDED.value)
    # The calls queued at the cancel were canceled, never dialled.
    assert all(r.start_at is None for r in rows if r.status == CallStatus.CANCELED.value)


def test_the_dry_run_lists_exactly_the_bad_rows_and_a_repeat_creates_nothing(
    db: Database, tenant: Tenant
) -> None:
    now = 1_767_225_600_000
    Admin(db, lambda: now).suppress(tenant.organization_id, number(2), "asked")
    rows: list[NewTask | RowProblem] = [
        NewTask(number(0), {"customer_name": "김민준"}),
        RowProblem(1, "to_number", "is not a valid phone number"),
        NewTask(number(2), {"customer_name": "이서연"}),  # suppressed
        NewTask(number(0), {"customer_name": "박지호"}),  # duplicate of row 0
        NewTask(number(4), {}),  # the agent says {{customer_name}}
        NewTask(number(5), {"customer_name": "최수아"}),
    ]
    service = CampaignService(db, lambda: now)
    dry = service.create(tenant.organization_id, draft(tenant, 0, tasks=rows), dry_run=True)
    assert dry.view is None and dry.accepted == 2
    assert [(p.row, p.field) for p in dry.rejected] == [
        (1, "to_number"),
        (2, "to_number"),
        (3, "to_number"),
        (4, "dynamic_variables"),
    ]
    assert "do-not-call" in dry.rejected[1].reason and "row 0" in dry.rejected[2].reason
    assert "customer_name" in dry.rejected[3].reason
    with db.read() as conn:
        assert campaign_store.page(conn, tenant.organization_id, 10, None) == []
    with pytest.raises(ValidationFailed) as refused:
        service.create(tenant.organization_id, draft(tenant, 0, tasks=rows))
    assert [e.field for e in refused.value.errors] == [
        "tasks[1].to_number",
        "tasks[2].to_number",
        "tasks[3].to_number",
        "tasks[4].dynamic_variables",
    ]
    first = service.create(
        tenant.organization_id, draft(tenant, 0, tasks=rows), idempotency_key="k", skip_invalid=True
    )
    again = service.create(
        tenant.organization_id, draft(tenant, 0, tasks=rows), idempotency_key="k", skip_invalid=True
    )
    assert first.view is not None and again.view is not None and again.replayed
    assert again.view.campaign.id == first.view.campaign.id and again.view.counters.total == 2
    with db.read() as conn:
        assert len(campaign_store.page(conn, tenant.organization_id, 10, None)) == 1
        tasks = task_store.tasks_page(
            conn, tenant.organization_id, first.view.campaign.id, after_seq=-1, limit=10
        )
    assert [t.seq for t in tasks] == [0, 5]  # each task keeps its row in the list
    with pytest.raises(IdempotencyMismatch):
        service.create(tenant.organization_id, draft(tenant, 3), idempotency_key="k")


def test_another_organizations_campaign_is_not_found(db: Database, tenant: Tenant) -> None:
    other = make_tenant(db, 0, "other org")
    service = CampaignService(db, lambda: 1_767_225_600_000)
    created = service.create(tenant.organization_id, draft(tenant, 2))
    assert created.view is not None
    cid = created.view.campaign.id
    for action in (service.get, service.pause, service.resume, service.cancel, service.tasks):
        with pytest.raises(NotFound):
            action(other.organization_id, cid)
    assert service.get(tenant.organization_id, cid).counters.total == 2


def test_concurrency_must_fit_the_organizations_limit(db: Database, tenant: Tenant) -> None:
    service = CampaignService(db, lambda: 1_767_225_600_000)
    with pytest.raises(ValidationFailed) as refused:
        service.create(tenant.organization_id, draft(tenant, 1, concurrency=11))  # the limit is 10
    assert refused.value.errors[0].field == "concurrency"
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(calls)).scalar_one() == 0
    assert TaskStatus.PENDING.value == "pending"


def test_a_killed_worker_never_makes_a_task_call_twice(db: Database, tenant: Tenant) -> None:
    now = 1_767_225_600_000
    calls_service = CallService(db, lambda: now)
    service = CampaignService(db, lambda: now)
    rule = RetryRule(max_attempts=3, interval_min=0)  # retries at once, when it may retry at all
    created = service.create(tenant.organization_id, draft(tenant, 1, concurrency=1, retry=rule))
    assert created.view is not None
    cid = created.view.campaign.id
    assert feeder.feed(db, calls_service, now).created == 1
    # A second feeder pass (another worker) while the call is queued makes no second call.
    assert feeder.feed(db, calls_service, now + 1).created == 0
    claimed = dispatch(db, owner="dies", now=now + 2, capacity=10, lease_ms=30_000, scan_limit=100)
    assert len(claimed.claimed) == 1
    # The worker dies: its lease lapses and the reaper ends the call; it is never redialled.
    assert reaper.reap(db, now + 60_000) == 1
    feeder.feed(db, calls_service, now + 61_000)
    view = service.get(tenant.organization_id, cid)
    assert view.campaign.status is CampaignStatus.FAIL
    assert view.counters.failed == 1 and view.counters.total == 1
    assert len(campaign_calls(db, tenant, cid)) == 1
    with db.read() as conn:
        [task] = task_store.tasks_page(conn, tenant.organization_id, cid, after_seq=-1, limit=10)
        # The attempt fence: a feeder holding the task as it was read makes no call.
        stale = replace(task, status=TaskStatus.PENDING, attempts=0)
    with db.write() as conn:
        assert not task_store.start(conn, stale, "01a00000-0000-7000-8000-000000000000", now)
    assert task.attempts == 1 and task.last_reason == DisconnectionReason.ORPHANED_NO_AGENT_PICKUP.value


def test_campaign_started_and_finished_go_through_the_outbox(db: Database, tenant: Tenant) -> None:
    now = 1_767_225_600_000
    WebhookAdmin(db, lambda: now, allow_private=True).add(tenant.organization_id, "http://127.0.0.1:9/hook")
    calls_service = CallService(db, lambda: now)
    service = CampaignService(db, lambda: now)
    created = service.create(tenant.organization_id, draft(tenant, 2, concurrency=2))
    assert created.view is not None
    cid = created.view.campaign.id
    assert feeder.feed(db, calls_service, now).created == 2
    for row in campaign_calls(db, tenant, cid):
        calls_service.cancel(tenant.organization_id, row.id)
    assert feeder.feed(db, calls_service, now + 1000).finished == 1
    with db.read() as conn:
        rows = conn.execute(
            select(
                webhook_events.c.type,
                webhook_events.c.body,
                webhook_events.c.call_id,
                webhook_deliveries.c.status,
            )
            .join(
                webhook_deliveries,
                (webhook_deliveries.c.organization_id == webhook_events.c.organization_id)
                & (webhook_deliveries.c.event_id == webhook_events.c.id),
            )
            .where(
                webhook_events.c.organization_id == tenant.organization_id,
                webhook_events.c.subject_kind == "campaign",
                webhook_events.c.subject_id == cid,
            )
            .order_by(webhook_events.c.created_at)
        ).all()
    assert [r.type for r in rows] == ["campaign_started", "campaign_finished"]
    assert {r.call_id for r in rows} == {None}  # a campaign is no call (migration 0018)
    assert {r.status for r in rows} == {"pending"}  # the relay signs and sends them like call events
    started, ended = (orjson.loads(r.body) for r in rows)
    assert started["campaign"]["status"] == "ongoing" and started["campaign"]["total_calls"] == 2
    assert ended["campaign"]["status"] == "fail" and ended["campaign"]["failed_calls"] == 2
    assert ended["campaign"]["from_number"] == "07011112222" and ended["webhook_version"] == "v2"


def test_a_large_campaign_puts_only_its_concurrency_in_the_queue(db: Database, tenant: Tenant) -> None:
    # 20,000 keeps the suite quick; bench/campaign_bench.py loads and runs 100,000.
    now = 1_767_225_600_000
    service = CampaignService(db, lambda: now)
    tasks = [NewTask(number(i), {"customer_name": "홍길동"}) for i in range(20_000)]
    created = service.create(tenant.organization_id, draft(tenant, 0, tasks=tasks, concurrency=10))
    assert created.view is not None and created.view.counters.total == 20_000
    assert feeder.feed(db, CallService(db, lambda: now), now).created == 10
    with db.read() as conn:
        queued = conn.execute(select(func.count()).select_from(calls)).scalar_one()
    assert queued == 10
    view = service.get(tenant.organization_id, created.view.campaign.id)
    assert (view.counters.remaining, view.counters.in_progress) == (19_990, 10)
