"""The benchmark's raw side: capture the statements the store emits for a request and replay
them with the bare driver, configured like the store (used by `bench.run`).

A replay that fails (a statement timeout on a slow host, a lock, a dropped connection) is a
result, not a crash: `Replayed.error` says what happened and the connection is ready for the
next replay (issue 16 §3: the harness crashed on the first count that hit its timeout).
"""

from __future__ import annotations

import contextlib
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
from callplane.store import listing, predicates
from callplane.store.db import Database

# --- raw SQL ------------------------------------------------------------------------------


@dataclass
class Captured:
    statement: str
    parameters: Any


@contextmanager
def capture(db: Database) -> Iterator[list[Captured]]:
    found: list[Captured] = []

    def before(_c: Any, _cur: Any, statement: str, parameters: Any, _ctx: Any, _many: bool) -> None:
        found.append(Captured(statement, parameters))

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield found
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


@dataclass
class Replayed:
    ms: float
    names: list[str]  #: the columns of the widest result
    rows: list[Any]  #: its rows
    error: str | None = None  #: why the statements failed (then the rest is what ran before)


def failure(exc: BaseException) -> str:
    """A short, stable name for why a statement failed: `QueryCanceled`, `OperationalError`."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's exception
    return type(orig if isinstance(orig, BaseException) else exc).__name__


class Replayer:
    """Runs captured statements with the bare driver, configured like the store's connections.

    `statement_timeout_ms` (PostgreSQL): each statement's limit, as `bench.run --statement-timeout`
    sets it for the store's connections too; None leaves the server's setting.
    """

    def __init__(self, url: str, statement_timeout_ms: int | None = None) -> None:
        self.url = url
        self.statement_timeout_ms = statement_timeout_ms
        self._connect()

    def _connect(self) -> None:
        parsed = make_url(self.url)
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
            if self.statement_timeout_ms is not None:
                set_statement_timeout(self.conn, self.statement_timeout_ms)

    def run(self, statements: list[Captured]) -> Replayed:
        """Run the statements: the time, the widest result, or why they failed."""
        started = time.perf_counter()
        try:
            names, rows = self._run(statements)
        except (sqlite3.Error, psycopg.Error) as exc:
            self._recover()
            return Replayed((time.perf_counter() - started) * 1000, [], [], failure(exc))
        return Replayed((time.perf_counter() - started) * 1000, names, rows)

    def _recover(self) -> None:
        """After a failed statement: roll back what it left open, or connect again."""
        try:
            if self.sqlite:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            else:
                self.conn.rollback()
        except (sqlite3.Error, psycopg.Error):
            self.close()
            self._connect()

    def _run(self, statements: list[Captured]) -> tuple[list[str], list[Any]]:
        widest: tuple[list[str], list[Any]] = ([], [])
        if self.sqlite:
            for s in statements:
                cur = self.conn.execute(s.statement, s.parameters or ())
                rows = cur.fetchall()
                if cur.description and len(cur.description) > len(widest[0]):
                    widest = ([d[0] for d in cur.description], rows)
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        else:
            for s in statements:
                cur = self.conn.execute(s.statement, s.parameters or None)
                if cur.description is not None:
                    rows = cur.fetchall()
                    if len(cur.description) > len(widest[0]):
                        widest = ([d.name for d in cur.description], rows)
            self.conn.rollback()
        return widest

    def explain(self, statement: Captured) -> str:
        try:
            if self.sqlite:
                rows = self.conn.execute(
                    "EXPLAIN QUERY PLAN " + statement.statement, statement.parameters or ()
                ).fetchall()
                return "\n".join(str(r[-1]) for r in rows)
            rows = self.conn.execute(
                "EXPLAIN " + statement.statement, statement.parameters or None
            ).fetchall()
            self.conn.rollback()
        except (sqlite3.Error, psycopg.Error) as exc:
            self._recover()
            return f"(no plan: {failure(exc)})"
        return "\n".join(r[0] for r in rows)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, psycopg.Error):
            self.conn.close()


def set_statement_timeout(conn: Any, ms: int) -> None:
    """Give a fresh psycopg connection a statement timeout for its session (0: none)."""
    conn.execute(f"SET statement_timeout = {int(ms)}")
    conn.commit()  # a SET in a transaction rolled back would be undone


def path_of(statement: str) -> str:
    """Which route the store took, read off the page statement."""
    if "+calls.rid IN" in statement:
        return "walk + gram filter"
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
        dialect = conn.dialect.name
        where, recheck = listing.page_filters(query, dialect, how, predicates.filters(query, dialect, how))
        column = predicates.SORT_COLUMNS[query.sort]
        columns = listing.page_columns(query, dialect)
        return listing._page_rows(conn, query, where, column, columns, recheck)[: query.limit]
