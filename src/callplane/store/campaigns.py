"""Campaign and task rows: bulk load, the feeder's reads and fenced moves, counters, pages.

A task moves `pending → calling` with `attempts = attempts + 1` only if its attempts are still
what the feeder read (the fence), in the transaction that inserts its call: two feeders — or a
feeder that died half way — can never make two calls for one attempt of one task. On
PostgreSQL the feeder also locks the campaign row (`lock`, `SKIP LOCKED`), so two workers never
count the same free slots; on SQLite the single writer serialises them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, insert, select, update

from callplane.domain.call import LIVE_STATUSES, TERMINAL_STATUSES, CallStatus, DisconnectionReason
from callplane.domain.campaign import (
    Campaign,
    CampaignStatus,
    Counters,
    Gate,
    NewTask,
    PausedBy,
    RetryRule,
    Task,
    TaskStatus,
)
from callplane.domain.org import CallingWindow
from callplane.store.schema import calls, campaign_tasks, campaigns, suppressions

_INSERT_CHUNK = 5_000
_IN_CHUNK = 500
_LIVE = [s.value for s in LIVE_STATUSES]
_TERMINAL = [s.value for s in TERMINAL_STATUSES]


def insert_campaign(
    conn: Connection, campaign: Campaign, *, idempotency_key: str | None, fingerprint: str | None
) -> None:
    w = campaign.window
    conn.execute(
        insert(campaigns).values(
            organization_id=campaign.organization_id,
            id=campaign.id,
            name=campaign.name,
            from_number=campaign.from_number,
            agent_id=campaign.agent_id,
            agent_version=campaign.agent_version,
            presentation_number=campaign.presentation_number,
            scheduled_at=campaign.scheduled_at,
            timezone=w.timezone,
            window_start_min=w.start_min,
            window_end_min=w.end_min,
            window_days=w.days,
            concurrency=campaign.concurrency,
            retry=campaign.retry.to_json(),
            status=campaign.status.value,
            paused_by=campaign.paused_by.value if campaign.paused_by else None,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
        )
    )


def insert_tasks(
    conn: Connection,
    organization_id: str,
    campaign_id: str,
    tasks: Iterable[tuple[int, NewTask]],
    due_at: int,
) -> int:
    """Load every task — (its row in the request, the task) — in chunks of multi-row inserts
    (100,000 in a few seconds)."""
    rows = (
        {
            "organization_id": organization_id,
            "campaign_id": campaign_id,
            "seq": seq,
            "to_number": t.to_number,
            "dynamic_variables": t.dynamic_variables,
            "metadata": t.metadata,
            "status": TaskStatus.PENDING.value,
            "attempts": 0,
            "call_ids": [],
            "due_at": due_at,
            "updated_at": due_at,
        }
        for seq, t in tasks
    )
    if conn.dialect.name == "postgresql":
        return _copy_tasks(conn, rows)
    total = 0
    while chunk := list(islice(rows, _INSERT_CHUNK)):
        conn.execute(insert(campaign_tasks), chunk)
        total += len(chunk)
    return total


_COPY_COLUMNS = (
    "organization_id", "campaign_id", "seq", "to_number", "dynamic_variables", "metadata", "status",
    "attempts", "call_ids", "due_at", "updated_at",
)  # fmt: skip
_JSON_COLUMNS = frozenset({"dynamic_variables", "metadata", "call_ids"})


def _copy_tasks(conn: Connection, rows: Iterable[dict[str, Any]]) -> int:
    """PostgreSQL: `COPY … FROM STDIN` in the transaction's own connection. Multi-row INSERTs
    spent 20 s of a 100,000-task load binding 1.1 million parameters; COPY takes a few."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    total = 0
    with cursor.copy(f"COPY campaign_tasks ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(
                [orjson.dumps(row[c]).decode() if c in _JSON_COLUMNS else row[c] for c in _COPY_COLUMNS]
            )
            total += 1
    return total


def suppressed_among(conn: Connection, organization_id: str, numbers: Sequence[str]) -> set[str]:
    found: set[str] = set()
    unique = sorted(set(numbers))
    for i in range(0, len(unique), _IN_CHUNK):
        found.update(
            conn.execute(
                select(suppressions.c.number).where(
                    suppressions.c.organization_id == organization_id,
                    suppressions.c.number.in_(unique[i : i + _IN_CHUNK]),
                )
            ).scalars()
        )
    return found


def _campaign(r: Any) -> Campaign:
    return Campaign(
        id=r.id,
        organization_id=r.organization_id,
        name=r.name,
        from_number=r.from_number,
        agent_id=r.agent_id,
        agent_version=r.agent_version,
        presentation_number=r.presentation_number,
        scheduled_at=r.scheduled_at,
        window=CallingWindow(r.timezone, r.window_start_min, r.window_end_min, r.window_days),
        concurrency=r.concurrency,
        retry=RetryRule.from_json(r.retry),
        status=CampaignStatus(r.status),
        paused_by=PausedBy(r.paused_by) if r.paused_by else None,
        created_at=r.created_at,
        updated_at=r.updated_at,
        started_at=r.started_at,
        finished_at=r.finished_at,
    )


def get(conn: Connection, organization_id: str, campaign_id: str) -> Campaign | None:
    row = conn.execute(
        select(campaigns).where(campaigns.c.organization_id == organization_id, campaigns.c.id == campaign_id)
    ).first()
    return _campaign(row) if row is not None else None


def by_key(conn: Connection, organization_id: str, key: str) -> tuple[Campaign, str | None] | None:
    """The campaign an earlier create with this Idempotency-Key made, and its fingerprint."""
    row = conn.execute(
        select(campaigns).where(
            campaigns.c.organization_id == organization_id, campaigns.c.idempotency_key == key
        )
    ).first()
    return (_campaign(row), row.fingerprint) if row is not None else None


def page(
    conn: Connection, organization_id: str, limit: int, before: tuple[int, str] | None
) -> list[Campaign]:
    """Newest first; `before` is the (created_at, id) the previous page ended with."""
    query = select(campaigns).where(campaigns.c.organization_id == organization_id)
    if before is not None:
        created, cid = before
        query = query.where(
            (campaigns.c.created_at < created) | and_(campaigns.c.created_at == created, campaigns.c.id < cid)
        )
    query = query.order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc()).limit(limit)
    return [_campaign(r) for r in conn.execute(query)]


def feedable(conn: Connection) -> list[tuple[str, str]]:
    """(organisation, campaign) of every campaign the feeder must look at: it may start, runs,
    is paused (its ended calls are still settled), or was canceled with calls still live
    (`finished_at` is set when the last one is settled). Campaigns are few next to calls: this
    reads the small campaigns table, not the tasks."""
    wanted = [s.value for s in CampaignStatus if s.feeds] + [CampaignStatus.PAUSED.value]
    rows = conn.execute(
        select(campaigns.c.organization_id, campaigns.c.id).where(
            campaigns.c.status.in_(wanted)
            | and_(campaigns.c.status == CampaignStatus.CANCELED.value, campaigns.c.finished_at.is_(None))
        )
    ).all()
    return [(r.organization_id, r.id) for r in rows]


def lock(conn: Connection, organization_id: str, campaign_id: str, *, wait: bool) -> Campaign | None:
    """The campaign, locked for this transaction on PostgreSQL (None if another holds it and
    `wait` is False, or it does not exist)."""
    query = select(campaigns).where(
        campaigns.c.organization_id == organization_id, campaigns.c.id == campaign_id
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=not wait)
    row = conn.execute(query).first()
    return _campaign(row) if row is not None else None


def set_status(
    conn: Connection,
    campaign: Campaign,
    new: CampaignStatus,
    now: int,
    *,
    paused_by: PausedBy | None = None,
    **values: Any,
) -> bool:
    """Move the campaign from the status it was read in (a conditional update)."""
    result = conn.execute(
        update(campaigns)
        .where(
            campaigns.c.organization_id == campaign.organization_id,
            campaigns.c.id == campaign.id,
            campaigns.c.status == campaign.status.value,
        )
        .values(
            status=new.value,
            paused_by=paused_by.value if paused_by else None,
            updated_at=now,
            **values,
        )
    )
    return bool(result.rowcount)


def _tasks_of(organization_id: str, campaign_id: str) -> list[Any]:
    return [
        campaign_tasks.c.organization_id == organization_id,
        campaign_tasks.c.campaign_id == campaign_id,
    ]


def has_status(conn: Connection, organization_id: str, campaign_id: str, status: TaskStatus) -> bool:
    query = select(campaign_tasks.c.seq).where(
        *_tasks_of(organization_id, campaign_id), campaign_tasks.c.status == status.value
    )
    return conn.execute(query.limit(1)).first() is not None


def count_status(conn: Connection, organization_id: str, campaign_id: str, status: TaskStatus) -> int:
    query = select(func.count()).where(
        *_tasks_of(organization_id, campaign_id), campaign_tasks.c.status == status.value
    )
    return int(conn.execute(query).scalar_one())


def live_calls(conn: Connection, organization_id: str, campaign_id: str) -> int:
    query = select(func.count()).where(
        calls.c.organization_id == organization_id,
        calls.c.campaign_id == campaign_id,
        calls.c.status.in_(_LIVE),
    )
    return int(conn.execute(query).scalar_one())


def counters(conn: Connection, organization_id: str, campaign_id: str) -> Counters:
    rows = conn.execute(
        select(campaign_tasks.c.status, func.count().label("n"))
        .where(*_tasks_of(organization_id, campaign_id))
        .group_by(campaign_tasks.c.status)
    ).all()
    by_status = {TaskStatus(r.status): int(r.n) for r in rows}
    return Counters.from_statuses(by_status, live_calls(conn, organization_id, campaign_id))


def finished_calls(conn: Connection, organization_id: str, campaign_id: str) -> list[tuple[Task, Any]]:
    """Tasks still `calling` whose current call has ended, with that call's status, reason and
    end time: the feeder settles them."""
    rows = conn.execute(
        select(
            campaign_tasks,
            calls.c.status.label("call_status"),
            calls.c.disconnection_reason.label("call_reason"),
            calls.c.end_at.label("call_end_at"),
        )
        .join(
            calls,
            and_(
                calls.c.organization_id == campaign_tasks.c.organization_id,
                calls.c.id == campaign_tasks.c.current_call_id,
            ),
        )
        .where(
            *_tasks_of(organization_id, campaign_id),
            campaign_tasks.c.status == TaskStatus.CALLING.value,
            calls.c.status.in_(_TERMINAL),
        )
    ).all()
    return [(_task(r), r) for r in rows]


def _task(r: Any) -> Task:
    return Task(
        campaign_id=r.campaign_id,
        organization_id=r.organization_id,
        seq=r.seq,
        to_number=r.to_number,
        dynamic_variables=r.dynamic_variables,
        metadata=r.metadata,
        status=TaskStatus(r.status),
        attempts=r.attempts,
        call_ids=list(r.call_ids),
        last_reason=r.last_reason,
        due_at=r.due_at,
        updated_at=r.updated_at,
    )


def settle(
    conn: Connection,
    task: Task,
    new: TaskStatus,
    *,
    reason: str | None,
    due_at: int | None,
    now: int,
) -> bool:
    """Move a `calling` task on after its call ended (fenced by its attempts)."""
    values: dict[str, Any] = {"status": new.value, "last_reason": reason, "updated_at": now}
    if due_at is not None:
        values["due_at"] = due_at
    if new is not TaskStatus.PENDING:
        values["current_call_id"] = None
    result = conn.execute(
        update(campaign_tasks)
        .where(
            *_tasks_of(task.organization_id, task.campaign_id),
            campaign_tasks.c.seq == task.seq,
            campaign_tasks.c.status == task.status.value,
            campaign_tasks.c.attempts == task.attempts,
        )
        .values(**values)
    )
    return bool(result.rowcount)


def due_tasks(conn: Connection, organization_id: str, campaign_id: str, now: int, limit: int) -> list[Task]:
    """The next pending tasks that are due: retries and first calls, in due order then list order."""
    query = (
        select(campaign_tasks)
        .where(
            *_tasks_of(organization_id, campaign_id),
            campaign_tasks.c.status == TaskStatus.PENDING.value,
            campaign_tasks.c.due_at <= now,
        )
        .order_by(campaign_tasks.c.due_at, campaign_tasks.c.seq)
        .limit(limit)
    )
    return [_task(r) for r in conn.execute(query)]


def start(conn: Connection, task: Task, call_id: str, now: int) -> bool:
    """`pending → calling` for this attempt, if nobody made it first (the fence)."""
    result = conn.execute(
        update(campaign_tasks)
        .where(
            *_tasks_of(task.organization_id, task.campaign_id),
            campaign_tasks.c.seq == task.seq,
            campaign_tasks.c.status == TaskStatus.PENDING.value,
            campaign_tasks.c.attempts == task.attempts,
        )
        .values(
            status=TaskStatus.CALLING.value,
            attempts=task.attempts + 1,
            call_ids=[*task.call_ids, call_id],
            current_call_id=call_id,
            updated_at=now,
        )
    )
    return bool(result.rowcount)


def cancel_pending(conn: Connection, organization_id: str, campaign_id: str, now: int) -> int:
    return conn.execute(
        update(campaign_tasks)
        .where(
            *_tasks_of(organization_id, campaign_id),
            campaign_tasks.c.status == TaskStatus.PENDING.value,
        )
        .values(status=TaskStatus.CANCELED.value, last_reason="canceled", updated_at=now)
    ).rowcount


def queued_call_ids(conn: Connection, organization_id: str, campaign_id: str) -> list[str]:
    query = select(calls.c.id).where(
        calls.c.organization_id == organization_id,
        calls.c.campaign_id == campaign_id,
        calls.c.status == CallStatus.QUEUED.value,
    )
    return list(conn.execute(query).scalars())


def set_calls_due(conn: Connection, organization_id: str, campaign_id: str, due_at: int, now: int) -> int:
    """Pause (due at the end of time) or resume (due now) the campaign's queued calls."""
    return conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == organization_id,
            calls.c.campaign_id == campaign_id,
            calls.c.status == CallStatus.QUEUED.value,
        )
        .values(due_at=due_at, updated_at=now)
    ).rowcount


def gates(conn: Connection, organization_id: str, campaign_ids: Iterable[str]) -> dict[str, Gate]:
    """What the dispatcher checks for a campaign's call at dial time."""
    wanted = sorted(set(campaign_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        select(
            campaigns.c.id,
            campaigns.c.status,
            campaigns.c.timezone,
            campaigns.c.window_start_min,
            campaigns.c.window_end_min,
            campaigns.c.window_days,
        ).where(campaigns.c.organization_id == organization_id, campaigns.c.id.in_(wanted))
    ).all()
    return {
        r.id: Gate(
            CampaignStatus(r.status) is not CampaignStatus.ONGOING,
            CallingWindow(r.timezone, r.window_start_min, r.window_end_min, r.window_days),
        )
        for r in rows
    }


def tasks_page(
    conn: Connection,
    organization_id: str,
    campaign_id: str,
    *,
    after_seq: int,
    limit: int,
    status: TaskStatus | None = None,
) -> list[Task]:
    query = select(campaign_tasks).where(
        *_tasks_of(organization_id, campaign_id), campaign_tasks.c.seq > after_seq
    )
    if status is not None:
        query = query.where(campaign_tasks.c.status == status.value)
    query = query.order_by(campaign_tasks.c.seq).limit(limit)
    return [_task(r) for r in conn.execute(query)]


def reason_of(value: str | None) -> DisconnectionReason | None:
    return DisconnectionReason(value) if value else None
