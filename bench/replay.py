"""The benchmark's raw side: capture the statements the store emits for a request and replay
them with the bare driver, configured like the store (used by `bench.run`)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
import psycopg.types.json
from sqlalchemy import event
from sqlalchemy.engine import make_url

from callplane.domain.query import CallQuery
from callplane.store import counting, listing, predicates
from callplane.store.db import Database

# --- raw SQL ------------------------------------------------------------------------------


@dataclass
class Captured:
    statement: str
    parameters: Any
    started: float = 0.0
    #: A count the store cut off at its time budget: how long it ran (ms), replayed the same.
    cut_after_ms: float | None = None


@contextmanager
def capture(db: Database) -> Iterator[list[Captured]]:
    found: list[Captured] = []

    def before(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        found.append(Captured(statement, parameters, time.perf_counter()))

    def failed(_ctx: Any) -> None:
        if found:
            found[-1].cut_after_ms = (time.perf_counter() - found[-1].started) * 1000

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "handle_error", failed)
    try:
        yield found
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "handle_error", failed)


class Replayer:
    """Runs captured statements with the bare driver, configured like the store's connections."""

    def __init__(self, url: str) -> None:
        #: Replayed counts stopped by their time budget (PostgreSQL statement_timeout, SQLite's
        #: progress handler), and replays in all: a slow host shows here, not as a crash.
        self.cut_off = 0
        self.replays = 0
        parsed = make_url(url)
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite:
            self.conn: Any = sqlite3.connect(
                parsed.database or "", isolation_level=None, check_same_thread=False
            )
            pragmas = (
                "journal_mode=WAL synchronous=NORMAL busy_timeout=30000 cache_size=-262144 temp_store=MEMORY"
            )
            for pragma in pragmas.split():
                self.conn.execute(f"PRAGMA {pragma}")
        else:
            plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            self.conn = psycopg.connect(
                plain, prepare_threshold=None, options="-c plan_cache_mode=force_custom_plan"
            )
            # Decode jsonb as the store does (orjson), so raw includes what the store's fetch does.
            psycopg.types.json.set_json_loads(orjson.loads, self.conn)

    def run(self, statements: list[Captured]) -> tuple[float, list[str], list[Any]]:
        """Run the statements; the time, and the column names and rows of the widest result."""
        widest: tuple[list[str], list[Any]] = ([], [])
        self.replays += 1
        started = time.perf_counter()
        if self.sqlite:
            for s in statements:
                if s.cut_after_ms is not None:
                    self._sqlite_budgeted(s, s.cut_after_ms)
                    continue
                cur = self.conn.execute(s.statement, s.parameters or ())
                rows = cur.fetchall()
                if cur.description and len(cur.description) > len(widest[0]):
                    widest = ([d[0] for d in cur.description], rows)
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        else:
            in_savepoint = False
            for s in statements:
                try:
                    cur = self.conn.execute(s.statement, s.parameters or None)
                    if "SAVEPOINT cp_count" in s.statement:
                        in_savepoint = not s.statement.lstrip().startswith(("RELEASE", "ROLLBACK", "SET"))
                    if cur.description is not None:
                        rows = cur.fetchall()
                        if len(cur.description) > len(widest[0]):
                            widest = ([d.name for d in cur.description], rows)
                except psycopg.errors.QueryCanceled:
                    self.cut_off += 1
                    # A count stopped by its statement_timeout, as in the store. Undo what the
                    # store opened for it: a savepoint inside a caller's transaction, or — reads
                    # run in autocommit — the transaction its `BEGIN` made (there is no
                    # savepoint to return to then; assuming one crashed the harness).
                    if in_savepoint:
                        self.conn.execute("ROLLBACK TO SAVEPOINT cp_count")
                    else:
                        self.conn.rollback()
                except psycopg.errors.InFailedSqlTransaction:
                    pass
            self.conn.rollback()
        return (time.perf_counter() - started) * 1000, *widest

    def _sqlite_budgeted(self, s: Captured, budget_ms: float) -> None:
        # The store cut this count off with a progress handler: replay it for as long.
        deadline = time.perf_counter() + budget_ms / 1000
        every = counting.SQLITE_CHECK_EVERY
        self.conn.set_progress_handler(lambda: int(time.perf_counter() > deadline), every)
        try:
            self.conn.execute(s.statement, s.parameters or ()).fetchall()
        except sqlite3.OperationalError:
            self.cut_off += 1
        finally:
            self.conn.set_progress_handler(None, 0)

    def explain(self, statement: Captured) -> str:
        if self.sqlite:
            rows = self.conn.execute(
                "EXPLAIN QUERY PLAN " + statement.statement, statement.parameters or ()
            ).fetchall()
            return "\n".join(str(r[-1]) for r in rows)
        rows = self.conn.execute("EXPLAIN " + statement.statement, statement.parameters or None).fetchall()
        self.conn.rollback()
        return "\n".join(r[0] for r in rows)

    def close(self) -> None:
        self.conn.close()


def path_of(statement: str) -> str:
    """Which route the store took, read off the page statement."""
    if "MATCH" in statement or "@@" in statement:
        return "gram index"
    if "call_meta AS m" in statement:
        return "metadata-driven"
    if "instr(" in statement or "strpos(" in statement:
        return "walk + substring"
    return "b-tree"


def page_rows(db: Database, query: CallQuery) -> list[Any]:
    """The page's rows as the store reads them (for the serialization measurement)."""
    with db.read() as conn:
        how = listing.route(conn, query)
        where = predicates.filters(query, conn.dialect.name, how)
        column = predicates.SORT_COLUMNS[query.sort]
        columns = listing.FULL_COLUMNS if query.include_transcript else listing.SUMMARY_COLUMNS
        return listing._page_rows(conn, query, where, column, columns)[: query.limit]
