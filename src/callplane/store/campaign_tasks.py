"""Task rows: the bulk load, the feeder's reads and fenced moves, counters, pages.

A task moves `pending → calling` with `attempts = attempts + 1` only if its attempts are still
what the feeder read (the fence), in the transaction that inserts its call: two feeders — or a
feeder that died half way — can never make two calls for one attempt of one task.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

import orjson
from sqlalchemy import Connection, and_, func, insert, select, update

from callplane.domain.call import TERMINAL_STATUSES
from callplane.domain.campaign import Counters, NewTask, Task, TaskStatus
from callplane.store.campaigns import live_calls
from callplane.store.schema import calls, campaign_tasks, suppressions

_INSERT_CHUNK = 5_000
_IN_CHUNK = 500
_TERMINAL = [s.value for s in TERMINAL_STATUSES]


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
    refund: bool = False,
) -> bool:
    """Move a `calling` task on after its call ended (fenced by its attempts); `refund` gives
    the attempt back (its call was never dialled)."""
    values: dict[str, Any] = {"status": new.value, "last_reason": reason, "updated_at": now}
    if refund:
        values["attempts"] = task.attempts - 1
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


def counters(conn: Connection, organization_id: str, campaign_id: str) -> Counters:
    rows = conn.execute(
        select(campaign_tasks.c.status, func.count().label("n"))
        .where(*_tasks_of(organization_id, campaign_id))
        .group_by(campaign_tasks.c.status)
    ).all()
    by_status = {TaskStatus(r.status): int(r.n) for r in rows}
    return Counters.from_statuses(by_status, live_calls(conn, organization_id, campaign_id))
