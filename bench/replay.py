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


class Replayer:
    """Runs captured statements with the bare driver, configured like the store's connections."""

    def __init__(self, url: str) -> None:
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
        started = time.perf_counter()
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
        return (time.perf_counter() - started) * 1000, *widest

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
