"""Time limits and estimates for counts (used by `store.listing`).

`time_limit` stops a statement that runs past its budget: SQLite through a progress handler,
PostgreSQL through `statement_timeout` inside a savepoint. `cut_off` tells such a stop from a
real failure; `planner_estimate` asks PostgreSQL how many rows it expects instead.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Select, and_, literal_column, select
from sqlalchemy.exc import DBAPIError, OperationalError

from callplane.store.db import EXPLAIN
from callplane.store.schema import calls

#: SQLite: VM instructions a count may always run (a few hundred rows; a row's `instr` over a
#: transcript is one instruction, so this is no measure of time).
SQLITE_MIN_WORK = 5_000
#: SQLite: look at the clock every this many instructions. The check is a Python call: every 100
#: instructions it cost a 10,000-row count ~0.2 ms (measured at 1M calls), as much as the count.
#: A count reads ~9 instructions per row, so 500 are ~55 rows: a few µs warm, and even when each
#: row is a lookup outside the cache (~10 µs) or an `instr` over a long transcript (tens of µs),
#: the budget is overrun by about a millisecond at most.
SQLITE_CHECK_EVERY = 500
#: PostgreSQL: `statement_timeout` also runs while the count is planned, which after a cache
#: reload (a new connection, a truncated table) alone can take a few milliseconds.
PG_PLANNING_MS = 1.0


class time_limit:
    """Abort the statement run inside after `budget_ms` (SQLite progress handler / PG timeout).

    PostgreSQL: a savepoint keeps the read transaction usable after a timeout, and rolling back
    to it also undoes the `SET LOCAL`. Each side is one round trip (the statements are sent as
    one simple-protocol string).
    """

    def __init__(self, conn: Connection, budget_ms: float) -> None:
        self.conn = conn
        self.budget_ms = budget_ms

    def __enter__(self) -> None:
        if self.conn.dialect.name == "sqlite":
            deadline = time.perf_counter() + self.budget_ms / 1000
            calls_left = [SQLITE_MIN_WORK // SQLITE_CHECK_EVERY]

            def over() -> int:
                # Cut off only a count that has done real work: a process descheduled on a busy
                # machine must not lose a count of a few hundred rows to the wall clock.
                calls_left[0] -= 1
                return int(calls_left[0] < 0 and time.perf_counter() > deadline)

            raw = self.conn.connection.driver_connection
            assert raw is not None
            raw.set_progress_handler(over, SQLITE_CHECK_EVERY)
        else:
            # Reads run in autocommit (Database.read): a transaction of its own scopes the
            # SET LOCAL. Inside a caller's transaction a savepoint does the same.
            raw = self.conn.connection.driver_connection
            self.own = bool(getattr(raw, "autocommit", False))
            opening = "BEGIN" if self.own else "SAVEPOINT cp_count"
            timeout = round(self.budget_ms + PG_PLANNING_MS)
            self.conn.exec_driver_sql(f"{opening}; SET LOCAL statement_timeout = {timeout}")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if self.conn.dialect.name == "sqlite":
            raw = self.conn.connection.driver_connection
            assert raw is not None
            raw.set_progress_handler(None, 0)
        elif self.own:
            self.conn.exec_driver_sql("COMMIT" if exc_type is None else "ROLLBACK")
        elif exc_type is None:
            self.conn.exec_driver_sql("SET LOCAL statement_timeout = 0; RELEASE SAVEPOINT cp_count")
        else:
            self.conn.exec_driver_sql("ROLLBACK TO SAVEPOINT cp_count; RELEASE SAVEPOINT cp_count")


def cut_off(exc: OperationalError) -> bool:
    """Whether the error is `time_limit` stopping a statement (and not a real failure)."""
    return "interrupted" in str(exc.orig) or getattr(exc.orig, "sqlstate", None) == "57014"


def planner_plan(conn: Connection, where: list[ColumnElement[bool]]) -> tuple[int, float] | None:
    """PostgreSQL's estimate for the matching calls: (rows, total cost), None if unavailable.

    The statement runs with the `explain` execution option, which the engine turns into
    `EXPLAIN (FORMAT JSON) …` (`store.db`): it goes through SQLAlchemy's compiled-statement
    cache with bound values, where compiling it afresh with literal values cost ~70 µs.
    """
    stmt: Select[Any] = select(literal_column("1")).select_from(calls).where(and_(*where))
    try:
        plan = conn.execute(stmt, execution_options={EXPLAIN: True}).scalar_one()
    except DBAPIError:
        # An estimate is a nicety; never fail a list for it. The failed statement aborted the
        # read transaction: end it, so the connection's next statement starts a fresh one.
        conn.rollback()
        return None
    data = plan if isinstance(plan, list) else orjson.loads(plan)
    return int(data[0]["Plan"]["Plan Rows"]), float(data[0]["Plan"]["Total Cost"])


def planner_estimate(conn: Connection, where: list[ColumnElement[bool]]) -> int | None:
    found = planner_plan(conn, where)
    return found[0] if found is not None else None
