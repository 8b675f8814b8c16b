"""Exact call counts that do not read every call: an organisation's calls, per creation day.

Counting a large organisation's calls row by row does not fit a list request: at 1M calls an
index-only count of a 313k-call tenant took 70–110 ms on this machine kind. So the days that are
over are counted once and kept (`call_counts`, migration 0010), and a total is their sum plus a
count of the calls created since (`organization_total`, one statement, one snapshot).

Why by creation day, and nothing more. `created_at` and `organization_id` never change, so a
counted day stays right without any write on the create path or on a status change; only a
call inserted or deleted into a day already counted (an import, a test clock in the past) can
make it wrong, and the migration's triggers handle exactly that by moving the organisation's mark
back to that day, which is recounted on the next total. Filters on mutable fields (status, time
ranges on `listed_at`, sentiment) cannot be kept per day without a write per status change,
which the worker's pace cannot afford; those are counted exactly from their indexes instead
(`store.listing`).

Counting days in (`_advance`) writes, from a read request: once per organisation and day, when
the first total after a day is over asks for it, and after a backdated insert. It runs in a
short transaction of its own (SQLite: the write lock; PostgreSQL: the mark's row lock, which the
triggers take too, so a concurrent backdated insert is either seen by the count or moves the
mark back after it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, text

from callplane.store.schema import call_count_marks, call_counts

DAY_MS = 86_400_000
#: A day is counted only once it ended this long ago. The triggers treat a call created more
#: than an hour ago as backdated (migration 0010): the hour between covers clock skew between
#: the application's hosts and the database, and transactions that run long.
SETTLE_MS = 2 * 3_600_000

_TOTAL = text(
    f"SELECT (SELECT coalesce(sum(d.calls), 0) FROM {call_counts.name} d"
    "         WHERE d.organization_id = m.organization_id AND d.day < m.counted_until)"
    "     + (SELECT count(*) FROM calls c"
    "         WHERE c.organization_id = m.organization_id AND c.created_at >= m.counted_until)"
    f" FROM {call_count_marks.name} m WHERE m.organization_id = :o"
)
_MARK = text(f"SELECT counted_until FROM {call_count_marks.name} WHERE organization_id = :o")


# Marks start at 0: a call's `created_at` is Unix ms after 1970, so nothing lies before it.
def counted_until(now_ms: int) -> int:
    """The mark a total taken at `now_ms` wants: the start of the last day that settled."""
    settled = now_ms - SETTLE_MS
    return settled - settled % DAY_MS


def organization_total(conn: Connection, organization_id: str, now_ms: int | None = None) -> int:
    """How many calls the organisation has, exactly (see the module docstring)."""
    target = counted_until(now_ms if now_ms is not None else int(time.time() * 1000))
    mark = conn.execute(_MARK, {"o": organization_id}).scalar_one_or_none()
    if mark is None or mark < target:
        _advance(conn, organization_id, target)
    # The sum and the count in one statement: one snapshot, so a concurrent advance cannot move
    # the mark between them.
    return int(conn.execute(_TOTAL, {"o": organization_id}).scalar_one())


def _advance(conn: Connection, organization_id: str, target: int) -> None:
    """Count the days from the organisation's mark up to `target` into `call_counts`."""
    postgres = conn.dialect.name == "postgresql"
    params: dict[str, Any] = {"o": organization_id, "t": target}
    with _transaction(conn):
        conn.execute(
            text(
                f"INSERT INTO {call_count_marks.name} (organization_id, counted_until) VALUES (:o, 0)"
                " ON CONFLICT (organization_id) DO NOTHING"
            ),
            params,
        )
        lock = " FOR UPDATE" if postgres else ""
        mark = int(conn.execute(text(_MARK.text + lock), params).scalar_one())
        if mark >= target:
            return  # a concurrent total did it
        params["m"] = mark
        conn.execute(text(f"DELETE FROM {call_counts.name} WHERE organization_id = :o AND day >= :m"), params)
        conn.execute(
            text(
                f"INSERT INTO {call_counts.name} (organization_id, day, calls)"
                f" SELECT organization_id, created_at - created_at % {DAY_MS}, count(*) FROM calls"
                " WHERE organization_id = :o AND created_at >= :m AND created_at < :t"
                f" GROUP BY organization_id, created_at - created_at % {DAY_MS}"
            ),
            params,
        )
        conn.execute(
            text(f"UPDATE {call_count_marks.name} SET counted_until = :t WHERE organization_id = :o"),
            params,
        )


@contextmanager
def _transaction(conn: Connection) -> Iterator[None]:
    """A transaction of its own on a read connection (autocommit); inside a caller's, theirs."""
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "sqlite":
        own = not raw.in_transaction
        opening = "BEGIN IMMEDIATE"
    else:
        own = bool(getattr(raw, "autocommit", False))
        opening = "BEGIN"
    if not own:
        yield
        return
    conn.exec_driver_sql(opening)
    try:
        yield
    except BaseException:
        conn.exec_driver_sql("ROLLBACK")
        raise
    conn.exec_driver_sql("COMMIT")
