"""What clients ask of campaigns, whatever dialect or the CLI: create (or dry-run), read,
list, pause, resume, cancel, and the per-task results.

A create is checked whole before anything is written: the campaign's own fields (owned
from_number, approved presentation number, the agent and version or the from_number's traffic
split, concurrency within the organisation's limit) and every task row — a number the dialect
could not read, a duplicate of an earlier row, a callee on the do-not-call list, a `{{variable}}`
the agent uses with no value in the row and no default. The API refuses the whole create
naming every bad row; the CLI may create the good rows only (`skip_invalid`). A dry run checks
and writes nothing.

`Idempotency-Key`: stored on the campaign itself (unique per organisation, kept as long as the
campaign), so a repeated create — the same CSV imported twice — finds the first campaign and
calls nobody twice; a different request with the key is an `IdempotencyMismatch`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

import orjson
from sqlalchemy import Connection

from callplane.domain.call import CallStatus, DisconnectionReason
from callplane.domain.campaign import (
    MAX_CONCURRENCY,
    Campaign,
    CampaignStatus,
    Counters,
    NewTask,
    PausedBy,
    RetryRule,
    RowProblem,
    Task,
    TaskStatus,
    Windows,
    check_concurrency,
    needed_variables,
)
from callplane.domain.errors import Conflict, IdempotencyMismatch, NotFound, ValidationFailed
from callplane.domain.ids import new_id, normalize_uuid
from callplane.engine import lifecycle
from callplane.engine.services import campaign_events, campaign_feed
from callplane.engine.services.calls import check_caller
from callplane.engine.services.webhooks import EventType
from callplane.store import agents as agent_store
from callplane.store import calls as call_store
from callplane.store import campaign_tasks as task_store
from callplane.store import campaigns as store
from callplane.store import numbers as number_store
from callplane.store import orgs as org_store
from callplane.store.db import Database
from callplane.store.lifecycle import Ending


@dataclass(frozen=True, slots=True)
class CampaignDraft:
    """A create request in no vendor's shape. Numbers are E.164; rows the dialect could not
    read arrive as `RowProblem`s in their place."""

    name: str
    from_number: str
    tasks: Sequence[NewTask | RowProblem]
    agent_id: str | None = None
    agent_version: str = "current"
    presentation_number: str | None = None
    scheduled_at: int | None = None
    window: Windows = field(default_factory=Windows)
    concurrency: int = 1
    retry: RetryRule = field(default_factory=RetryRule)
    #: Retell's `reserved_concurrency`: run at the organisation's limit minus this many slots
    #: (1..100) instead of `concurrency`.
    reserved: int | None = None

    def fingerprint(self) -> str:
        material = orjson.dumps(
            [
                self.name,
                self.from_number,
                self.agent_id,
                self.agent_version,
                self.presentation_number,
                self.scheduled_at,
                [self.window.timezone, self.window.to_json()],
                self.concurrency,
                self.reserved,
                self.retry.to_json(),
                [
                    [t.to_number, t.dynamic_variables, t.metadata]
                    if isinstance(t, NewTask)
                    else [t.row, t.field, t.reason]
                    for t in self.tasks
                ],
            ],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(material).hexdigest()


@dataclass(frozen=True, slots=True)
class View:
    campaign: Campaign
    counters: Counters


@dataclass(frozen=True, slots=True)
class Checked:
    """The outcome of a create or a dry run."""

    view: View | None  #: None for a dry run
    accepted: int
    rejected: list[RowProblem]
    replayed: bool = False


@dataclass
class CampaignService:
    db: Database
    now: Callable[[], int]

    def create(
        self,
        organization_id: str,
        draft: CampaignDraft,
        *,
        idempotency_key: str | None = None,
        dry_run: bool = False,
        skip_invalid: bool = False,
        progress: Progress | None = None,
    ) -> Checked:
        now = self.now()
        fingerprint = draft.fingerprint() if idempotency_key is not None else None
        with self.db.read() if dry_run else self.db.write() as conn:
            if idempotency_key is not None:
                seen = store.by_key(conn, organization_id, idempotency_key)
                if seen is not None:
                    campaign, stored_print = seen
                    if stored_print != fingerprint:
                        raise IdempotencyMismatch("this Idempotency-Key was used with a different request")
                    view = View(campaign, campaign_feed.counters(conn, campaign, now))
                    return Checked(view, view.counters.total, [], replayed=True)
            if draft.reserved is not None:
                limit = org_store.get_organization(conn, organization_id).limits.max_concurrent_calls
                draft = replace(draft, concurrency=max(1, min(MAX_CONCURRENCY, limit - draft.reserved)))
            needed = self._check_campaign(conn, organization_id, draft)
            good, rejected = _check_rows(conn, organization_id, draft.tasks, needed)
            if dry_run:
                return Checked(None, len(good), rejected)
            if rejected and not skip_invalid:
                raise ValidationFailed([p.as_field_error() for p in rejected])
            if not good:
                raise ValidationFailed.single("tasks", "no task can be called")
            campaign = Campaign(
                id=new_id(),
                organization_id=organization_id,
                name=draft.name,
                from_number=draft.from_number,
                agent_id=draft.agent_id,
                agent_version=draft.agent_version,
                presentation_number=draft.presentation_number,
                scheduled_at=draft.scheduled_at,
                window=draft.window,
                concurrency=draft.concurrency,
                retry=draft.retry,
                status=CampaignStatus.PENDING,
                paused_by=None,
                created_at=now,
                updated_at=now,
            )
            store.insert_campaign(conn, campaign, idempotency_key=idempotency_key, fingerprint=fingerprint)
            rows = good if progress is None else _reported(good, progress)
            task_store.insert_tasks(conn, organization_id, campaign.id, rows, now)
            view = View(campaign, campaign_feed.counters(conn, campaign, now))
        return Checked(view, len(good), rejected)

    def _check_campaign(self, conn: Connection, organization_id: str, draft: CampaignDraft) -> set[str]:
        """The campaign's own fields; returns the variables every task must give."""
        org = org_store.get_organization(conn, organization_id)
        check_concurrency(draft.concurrency, org.limits.max_concurrent_calls)
        check_caller(conn, organization_id, draft.from_number, draft.presentation_number)
        if draft.agent_id is None:
            if number_store.active_traffic_split(conn, organization_id, draft.from_number) is None:
                raise ValidationFailed.single(
                    "agent", "is required: the from_number has no active traffic-split policy"
                )
            return set()  # each call's variant is picked when it is made
        try:
            agent = agent_store.get_agent(conn, organization_id, draft.agent_id)
        except NotFound:
            raise ValidationFailed.single("agent.agent_id", "no such agent in this organization") from None
        version = agent_store.get_version(conn, organization_id, agent.id, agent.resolve(draft.agent_version))
        return needed_variables(version.config)

    def get(self, organization_id: str, campaign_id: str) -> View:
        with self.db.read() as conn:
            campaign = self._find(conn, organization_id, campaign_id)
            return View(campaign, campaign_feed.counters(conn, campaign, self.now()))

    def campaigns(self, organization_id: str, limit: int, before: tuple[int, str] | None) -> list[View]:
        with self.db.read() as conn:
            found = store.page(conn, organization_id, limit, before)
            now = self.now()
            return [View(c, campaign_feed.counters(conn, c, now)) for c in found]

    def tasks(
        self,
        organization_id: str,
        campaign_id: str,
        *,
        after_seq: int = -1,
        limit: int = 100,
        status: TaskStatus | None = None,
    ) -> list[Task]:
        with self.db.read() as conn:
            campaign = self._find(conn, organization_id, campaign_id)
            return task_store.tasks_page(
                conn, organization_id, campaign.id, after_seq=after_seq, limit=limit, status=status
            )

    def pause(self, organization_id: str, campaign_id: str) -> View:
        """No new dials from the next claim pass on: its queued calls wait, live ones go on.
        Pausing a campaign the system paused makes it the user's pause (no auto-resume)."""
        now = self.now()
        with self.db.write() as conn:
            campaign = self._locked(conn, organization_id, campaign_id)
            if campaign.status is CampaignStatus.PAUSED:
                if campaign.paused_by is PausedBy.SYSTEM:
                    store.set_status(conn, campaign, CampaignStatus.PAUSED, now, paused_by=PausedBy.USER)
            elif not campaign.status.feeds:
                raise Conflict(f"campaign {campaign_id} is {campaign.status} and cannot be paused")
            else:
                campaign_feed.hold(conn, campaign, PausedBy.USER, now)
        return self.get(organization_id, campaign_id)

    def resume(self, organization_id: str, campaign_id: str) -> View:
        now = self.now()
        with self.db.write() as conn:
            campaign = self._locked(conn, organization_id, campaign_id)
            if campaign.status.feeds:
                return View(campaign, campaign_feed.counters(conn, campaign, now))
            if campaign.status is not CampaignStatus.PAUSED:
                raise Conflict(f"campaign {campaign_id} is {campaign.status} and cannot be resumed")
            campaign_feed.release(conn, campaign, now)
        return self.get(organization_id, campaign_id)

    def cancel(self, organization_id: str, campaign_id: str) -> View:
        """Queued calls end `canceled`, tasks not yet called are canceled, live calls finish."""
        now = self.now()
        with self.db.write() as conn:
            campaign = self._locked(conn, organization_id, campaign_id)
            if campaign.status.is_final:
                raise Conflict(f"campaign {campaign_id} has already ended ({campaign.status})")
            store.set_status(conn, campaign, CampaignStatus.CANCELED, now)
            campaign = self._find(conn, organization_id, campaign.id)
            for call in call_store.get_calls(
                conn, organization_id, store.queued_call_ids(conn, organization_id, campaign.id)
            ):
                lifecycle.ended(
                    conn,
                    call,
                    Ending(CallStatus.CANCELED, DisconnectionReason.CANCELED_BY_USER, end_at=now),
                    now=now,
                    fence=None,
                )
            campaign_feed.settle(conn, campaign, now)
            task_store.cancel_pending(conn, organization_id, campaign.id, now)
            if not task_store.has_status(conn, organization_id, campaign.id, TaskStatus.CALLING):
                store.set_status(conn, campaign, CampaignStatus.CANCELED, now, finished_at=now)
                campaign = self._find(conn, organization_id, campaign.id)
                counters = campaign_feed.counters(conn, campaign, now)
                campaign_events.emit(conn, campaign, counters, EventType.CAMPAIGN_FINISHED, now)
        return self.get(organization_id, campaign_id)

    def _find(self, conn: Connection, organization_id: str, campaign_id: str) -> Campaign:
        canonical = normalize_uuid(campaign_id)
        campaign = store.get(conn, organization_id, canonical) if canonical else None
        if campaign is None:
            raise NotFound(f"campaign {campaign_id} not found")
        return campaign

    def _locked(self, conn: Connection, organization_id: str, campaign_id: str) -> Campaign:
        found = self._find(conn, organization_id, campaign_id)
        locked = store.lock(conn, organization_id, found.id, wait=True)
        assert locked is not None, "a campaign is never deleted"
        return locked


#: Told (tasks loaded so far, tasks to load) as a create loads its tasks (a CLI's progress bar).
Progress = Callable[[int, int], None]
_REPORT_EVERY = 1000


def _reported(rows: list[tuple[int, NewTask]], progress: Progress) -> Iterator[tuple[int, NewTask]]:
    total = len(rows)
    progress(0, total)
    for done, row in enumerate(rows, 1):
        yield row
        if done % _REPORT_EVERY == 0 or done == total:
            progress(done, total)


def _check_rows(
    conn: Connection, organization_id: str, rows: Sequence[NewTask | RowProblem], needed: set[str]
) -> tuple[list[tuple[int, NewTask]], list[RowProblem]]:
    numbers = [r.to_number for r in rows if isinstance(r, NewTask)]
    suppressed = task_store.suppressed_among(conn, organization_id, numbers)
    first_row: dict[str, int] = {}
    good: list[tuple[int, NewTask]] = []
    rejected: list[RowProblem] = []
    for i, row in enumerate(rows):
        if isinstance(row, RowProblem):
            rejected.append(row)
            continue
        if row.to_number in first_row:
            rejected.append(RowProblem(i, "to_number", f"duplicates row {first_row[row.to_number]}"))
            continue
        first_row[row.to_number] = i
        if row.to_number in suppressed:
            rejected.append(RowProblem(i, "to_number", "is on this organization's do-not-call list"))
            continue
        missing = sorted(needed - row.dynamic_variables.keys())
        if missing:
            rejected.append(
                RowProblem(i, "dynamic_variables", f"lacks {', '.join(missing)}, which the agent needs")
            )
            continue
        good.append((i, row))
    return good, rejected
