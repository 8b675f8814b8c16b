"""Feeding one campaign: turns a running campaign's tasks into ordinary queued calls, and
counts its tasks. The worker's feeder job (`engine.jobs.feeder`) calls `feed_one` for every
campaign that may start or is running, each in its own short write transaction; the campaign
service settles and counts with the same functions.

Tasks are not calls. Feeding a campaign:

1. tasks whose call has ended are settled: completed, failed, or pending again for a retry
   `interval_min` later (`domain.campaign.after_call`);
2. a `pending` campaign whose scheduled start has come becomes `ongoing` (`campaign_started`);
3. inside the campaign's window, the due pending tasks fill the campaign's free slots
   (`concurrency` minus its tasks still calling): each becomes a call built by
   `CallService.build` — the `POST /v3/calls` rules: owned from_number, approved presentation
   number, the do-not-call list, the agent or the from_number's traffic split — carrying the
   campaign id and task. A task the rules refuse fails with their reason and makes no call;
4. once no task is pending or calling, the campaign ends `success` or `fail`
   (`campaign_finished`).

So the calls table holds at most `concurrency` calls of a campaign at any moment, whatever its
size, and the dispatcher's scan never sees the rest. The dispatcher still checks each call at
dial time: the organisation's limits, and the campaign's window and status (`domain.limits`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection

from callplane.domain.call import CallStatus
from callplane.domain.campaign import (
    PAUSED_DUE_AT,
    Campaign,
    CampaignStatus,
    Counters,
    Next,
    PausedBy,
    Task,
    TaskStatus,
    after_call,
    final_status,
)
from callplane.domain.errors import DomainError
from callplane.domain.ids import new_id
from callplane.engine.services import campaign_events
from callplane.engine.services.calls import CallService, NewCall
from callplane.engine.services.webhooks import EventType
from callplane.store import campaign_tasks as task_store
from callplane.store import campaigns as store
from callplane.store import creating
from callplane.store import orgs as org_store


@dataclass
class FeedResult:
    created: int = 0  #: calls made from tasks
    settled: int = 0  #: tasks moved on after their call ended
    finished: int = 0  #: campaigns that ended


def feed_one(
    conn: Connection,
    service: CallService,
    organization_id: str,
    campaign_id: str,
    now: int,
    result: FeedResult,
) -> None:
    campaign = store.lock(conn, organization_id, campaign_id, wait=False)
    if campaign is None or campaign.finished_at is not None:
        return  # another worker is feeding it, or it ended since the list was read
    result.settled += settle(conn, campaign, now)
    if campaign.status is CampaignStatus.CANCELED:
        # Its live calls were left to finish; it has ended once the last one is settled.
        if not task_store.has_status(conn, organization_id, campaign_id, TaskStatus.CALLING):
            _close(conn, campaign, now)
            result.finished += 1
        return
    out_of_balance = _out_of_balance(conn, organization_id)
    if campaign.status is CampaignStatus.PAUSED:
        # Settled above, so its counters stay exact; nothing new is dialled. A system pause
        # ends by itself once the balance is topped up.
        if campaign.paused_by is not PausedBy.SYSTEM or out_of_balance or not release(conn, campaign, now):
            return
        campaign = _reread(conn, campaign)
    if campaign.status is CampaignStatus.PENDING and (campaign.scheduled_at or 0) > now:
        return
    if out_of_balance:
        # Nothing is left to call once its last calls settled: it ends rather than waits.
        if _finish_if_done(conn, campaign, now):
            result.finished += 1
        else:
            hold(conn, campaign, PausedBy.SYSTEM, now)
        return
    if campaign.status is CampaignStatus.PENDING:
        if not store.set_status(conn, campaign, CampaignStatus.ONGOING, now, started_at=now):
            return
        campaign = _reread(conn, campaign)
        campaign_events.emit(
            conn,
            campaign,
            counters(conn, campaign, now),
            EventType.CAMPAIGN_STARTED,
            now,
        )
    if campaign.window.is_open(now):
        free = campaign.concurrency - task_store.count_status(
            conn, organization_id, campaign_id, TaskStatus.CALLING
        )
        if free > 0:
            result.created += _start_tasks(conn, service, campaign, free, now)
    if _finish_if_done(conn, campaign, now):
        result.finished += 1


def hold(conn: Connection, campaign: Campaign, by: PausedBy, now: int) -> bool:
    """Pause: its queued calls wait (due at the end of time), live ones go on."""
    if not store.set_status(conn, campaign, CampaignStatus.PAUSED, now, paused_by=by):
        return False
    store.set_calls_due(conn, campaign.organization_id, campaign.id, PAUSED_DUE_AT, now)
    return True


def release(conn: Connection, campaign: Campaign, now: int) -> bool:
    """Resume a paused campaign where it was: started or still waiting for its start."""
    back = CampaignStatus.ONGOING if campaign.started_at is not None else CampaignStatus.PENDING
    if not store.set_status(conn, campaign, back, now):
        return False
    store.set_calls_due(conn, campaign.organization_id, campaign.id, now, now)
    return True


def _out_of_balance(conn: Connection, organization_id: str) -> bool:
    """A prepaid organisation whose balance is used up (the dispatcher would refuse its calls)."""
    balance = org_store.get_organization(conn, organization_id).balance_minor
    return balance is not None and balance <= 0


def _reread(conn: Connection, campaign: Campaign) -> Campaign:
    found = store.get(conn, campaign.organization_id, campaign.id)
    assert found is not None, "a campaign is never deleted"
    return found


def settle(conn: Connection, campaign: Campaign, now: int) -> int:
    """Move on every task whose call has ended (also for a paused or canceled campaign)."""
    moved = 0
    for task, call in task_store.finished_calls(conn, campaign.organization_id, campaign.id):
        nxt, label = _after(campaign, task, call, now)
        if task_store.settle(
            conn, task, nxt.status, reason=label, due_at=nxt.due_at, now=now, refund=nxt.refund
        ):
            moved += 1
    return moved


def counters(conn: Connection, campaign: Campaign, now: int) -> Counters:
    """The counters at this moment, from the database. A task whose call ended since the last
    feeder pass is counted where settling will put it, so no reader ever sees a finished call
    as in progress (at most `concurrency` such tasks: one cheap indexed join)."""
    base = task_store.counters(conn, campaign.organization_id, campaign.id)
    pending = [
        _after(campaign, task, call, now)[0].status
        for task, call in task_store.finished_calls(conn, campaign.organization_id, campaign.id)
    ]
    if not pending:
        return base
    return replace(
        base,
        in_progress=base.in_progress - len(pending),
        completed=base.completed + pending.count(TaskStatus.COMPLETED),
        failed=base.failed + pending.count(TaskStatus.FAILED) + pending.count(TaskStatus.CANCELED),
        remaining=base.remaining + pending.count(TaskStatus.PENDING),
    )


def _after(campaign: Campaign, task: Task, call: Any, now: int) -> tuple[Next, str]:
    """What settling does with a task whose call ended, and the reason it records."""
    status = CallStatus(call.call_status)
    reason = store.reason_of(call.call_reason)
    end_at = call.call_end_at if call.call_end_at is not None else now
    nxt = after_call(status, reason, task.attempts, campaign.retry, end_at)
    if campaign.status is CampaignStatus.CANCELED and (
        nxt.status is TaskStatus.PENDING or status is CallStatus.CANCELED
    ):
        nxt = Next(TaskStatus.CANCELED)  # no retry once canceled
    return nxt, reason.value if reason is not None else status.value


def _start_tasks(conn: Connection, service: CallService, campaign: Campaign, free: int, now: int) -> int:
    created = 0
    for task in task_store.due_tasks(conn, campaign.organization_id, campaign.id, now, free):
        request = NewCall(
            from_number=campaign.from_number,
            to_number=task.to_number,
            agent_id=campaign.agent_id,
            agent_version=campaign.agent_version,
            dynamic_variables=task.dynamic_variables,
            metadata=task.metadata,
            presentation_number=campaign.presentation_number,
            campaign_id=campaign.id,
            campaign_task=task.seq,
        )
        call_id = new_id()
        try:
            # Reads only: a refusal leaves nothing behind in this transaction.
            call = service.build(conn, campaign.organization_id, request, call_id, now)
        except DomainError as exc:
            task_store.settle(conn, task, TaskStatus.FAILED, reason=exc.message[:200], due_at=None, now=now)
            continue
        if not task_store.start(conn, task, call_id, now):
            continue  # another feeder took this attempt (the fence): make no call
        creating.insert_call(conn, call)
        created += 1
    return created


def _finish_if_done(conn: Connection, campaign: Campaign, now: int) -> bool:
    org, cid = campaign.organization_id, campaign.id
    # Two index probes each pass; the full count only once, at the end.
    if task_store.has_status(conn, org, cid, TaskStatus.PENDING) or task_store.has_status(
        conn, org, cid, TaskStatus.CALLING
    ):
        return False
    final = final_status(task_store.counters(conn, org, cid))
    if final is None or not store.set_status(conn, campaign, final, now, finished_at=now):
        return False
    _announce_end(conn, campaign, now)
    return True


def _close(conn: Connection, campaign: Campaign, now: int) -> None:
    if store.set_status(conn, campaign, campaign.status, now, finished_at=now):
        _announce_end(conn, campaign, now)


def _announce_end(conn: Connection, campaign: Campaign, now: int) -> None:
    finished = task_store.counters(conn, campaign.organization_id, campaign.id)  # every task settled
    campaign_events.emit(conn, _reread(conn, campaign), finished, EventType.CAMPAIGN_FINISHED, now)
