"""Connections and transactions for both databases.

`Database.read()` and `Database.write()` are the only ways in. On SQLite a write transaction
starts with `BEGIN IMMEDIATE`, taking the single write lock up front: a deferred transaction
that reads and then writes fails with "database is locked" the moment another writer commits
first, which `busy_timeout` cannot help with.

Within one process, SQLite writers take turns on a lock before `BEGIN IMMEDIATE` (see `write`).

On PostgreSQL, psycopg's automatic server-side prepared statements are switched off
(`prepare_threshold=None`) and every session uses `plan_cache_mode = force_custom_plan`:
a generic plan chosen for one search pattern can make another 100x slower.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar

import orjson
import psycopg
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")


#: Pauses before each further attempt of `Database.read_retrying` and `write_retrying`: short,
#: because a client is waiting; long enough for the pool to reconnect after the server dropped
#: its backends.
RETRY_PAUSES_S = (0.1, 0.4)


def transient(exc: BaseException) -> bool:
    """A failure a retry may cure: a lost connection, or the server refusing work for a moment."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class DatabaseSetupError(RuntimeError):
    """The database cannot hold callplane's data correctly; the message says how to fix it."""


def normalize_url(url: str) -> str:
    """Pick the driver for the user: `sqlite:///x.db` and `postgresql://…` both work."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+pysqlite")
    else:
        raise DatabaseSetupError(f"unsupported database {backend!r}: use sqlite:/// or postgresql://")
    return parsed.render_as_string(hide_password=False)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        kwargs: dict[str, Any] = {
            "echo": echo,
            "json_serializer": _json_dumps,
            "json_deserializer": orjson.loads,
        }
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if make_url(self.url).database in (None, "", ":memory:"):
                raise DatabaseSetupError("use a SQLite file: an in-memory database is one per connection")
            kwargs["pool_size"] = pool_size
        else:
            kwargs["connect_args"] = {
                "prepare_threshold": None,
                "options": "-c plan_cache_mode=force_custom_plan",
                "application_name": "callplane",
            }
            kwargs["pool_size"] = pool_size
            kwargs["max_overflow"] = pool_size
            kwargs["pool_reset_on_return"] = None  # `_rollback_if_open` instead
        self.engine: Engine = create_engine(self.url, **kwargs)
        self._writer: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        )
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_after_idle(self.engine)
            _rollback_if_open(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads, in autocommit on both databases: each statement is its own
        snapshot, and no BEGIN/ROLLBACK surrounds a request's one or two queries (a page and
        its count may see different snapshots; the count is a count of that moment either way).
        Measured on SQLite, the two statements were a tenth of a list request's in-process time."""
        with self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
                return
            conn.info["reading"] = True
            try:
                yield conn
            finally:
                conn.info["reading"] = False
                conn.rollback()  # SQLAlchemy's bookkeeping only: SQLite has no transaction open

    @contextmanager
    def write(self) -> Iterator[Connection]:
        # SQLite has one writer: threads of this process queue on a lock, not in SQLite's busy
        # handler, which sleeps in steps of up to 100 ms while the lock is already free.
        with self._writer, self.engine.connect() as conn:
            conn.info["immediate"] = True
            try:
                conn.begin()
            finally:
                conn.info["immediate"] = False
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def read_retrying(self, work: Callable[[Connection], T]) -> T:
        """`work` in a read, run again (up to `RETRY_PAUSES_S` more times) after a transient
        failure: a read changes nothing, so running it again is always safe."""
        return self._retrying(self.read, work)

    def write_retrying(
        self, work: Callable[[Connection], T], *, landed: Callable[[Connection], T | None] | None = None
    ) -> T:
        """`work` in a write transaction, run again (up to `RETRY_PAUSES_S` more times) if it
        failed transiently before the commit was sent (a restart, a terminated backend, a
        serialization failure): the transaction was rolled back, so running it again cannot
        apply it twice. A connection lost *during* the commit leaves the outcome unknown: it is
        raised as is, unless `landed` can tell — read on a fresh connection, it returns what
        the committed transaction would have (it did commit) or None (not committed, or not
        yet: `work` is run again). `work` must then conflict on a unique key with what the lost
        transaction wrote (the create reuses its call id), so a commit still in flight makes the
        retry wait for it and fail on that key; `landed` is then asked again."""
        return self._retrying(self.write, work, landed)

    def _retrying(
        self,
        opening: Callable[[], AbstractContextManager[Connection]],
        work: Callable[[Connection], T],
        landed: Callable[[Connection], T | None] | None = None,
    ) -> T:
        lost_commit = False
        for pause in (*RETRY_PAUSES_S, None):
            closing = False
            try:
                with opening() as conn:
                    result = work(conn)
                    closing = True
                return result
            except IntegrityError:
                if lost_commit and landed is not None:
                    # The lost commit was still in flight when `landed` looked (the server had
                    # the COMMIT, the client only lost its answer): not visible yet, so `work`
                    # ran again, waited on that transaction's unique key and hit it once it
                    # committed. It did land: answer it, not the conflict with itself.
                    found = self.read_retrying(landed)
                    if found is not None:
                        return found
                raise
            except DBAPIError as exc:
                if not transient(exc) or (closing and landed is None):
                    raise
                if closing and landed is not None:
                    lost_commit = True
                    # SQLAlchemy invalidated the pool's connections older than the lost one, so
                    # this reads on a new connection.
                    found = self.read_retrying(landed)
                    if found is not None:
                        return found
                if pause is None:
                    raise
                log.warning("database work failed (%s); again in %.1f s", exc.orig, pause)
                time.sleep(pause)
        raise AssertionError("unreachable")

    def dispose(self) -> None:
        self.engine.dispose()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy/we issue BEGIN ourselves (pysqlite's implicit BEGIN is deferred and late).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute("PRAGMA cache_size=-262144")  # 256 MiB of page cache per connection
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # write() flags its connection to take the lock up front; read() runs in autocommit
        # (the DBAPI connection's isolation_level is None); anything else gets a deferred BEGIN.
        if conn.info.get("immediate"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not conn.info.get("reading"):
            conn.exec_driver_sql("BEGIN")


#: PostgreSQL: a pooled connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Pessimistic disconnect handling, only for connections that sat idle.

    `pool_pre_ping` would ping on every checkout: a round trip (~30 µs, more on a busy machine)
    twice per API request. A connection back in the pool less than a second ago is handed out
    as is; if the server went away in that second, that request's statement fails (the API
    answers it with an error; the worker retries a call's outcome) and SQLAlchemy, seeing a
    disconnect, invalidates the whole pool, so later checkouts reconnect. A failed ping makes the
    pool reconnect that connection before handing it out (SQLAlchemy's documented
    `DisconnectionError` protocol).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("connection failed its ping")


def _rollback_if_open(engine: Engine) -> None:
    """PostgreSQL: a connection going back to the pool is rolled back only if a transaction is
    open on it. SQLAlchemy's own reset rolls back every connection that was not closed inside a
    transaction — every `write()` after its commit, every autocommit `read()` — and psycopg then
    sends nothing (the session is idle), but the call through both libraries was ~2.5 % of a
    create's server CPU (py-spy); the session's status is a field of libpq's connection."""

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_conn: Any, _record: Any, _state: Any) -> None:
        if dbapi_conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            dbapi_conn.rollback()


def check_postgres(conn: Connection) -> None:
    """Refuse a PostgreSQL database that would silently mangle or miss Korean text, or a
    connection that would plan searches generically.

    Transcript search does not depend on the database's LC_CTYPE: it uses no pg_trgm and no text
    search parser; grams are computed in Python and stored as opaque tsvector lexemes (see
    `store.search`). It does need UTF8, and per-execution (custom) plans: a connection pooler that
    drops the `options` startup parameter would silently lose `plan_cache_mode`.
    """
    encoding = conn.execute(text("SHOW server_encoding")).scalar_one()
    if encoding.upper() not in ("UTF8", "UTF-8"):
        raise DatabaseSetupError(
            f"database encoding is {encoding}; callplane stores Korean text and needs UTF8. "
            "Create it with: CREATE DATABASE name ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' "
            "LC_CTYPE 'C.UTF-8' TEMPLATE template0"
        )
    mode = conn.execute(text("SHOW plan_cache_mode")).scalar_one()
    if mode != "force_custom_plan":
        raise DatabaseSetupError(
            f"plan_cache_mode is {mode!r} on callplane's connections (it sets force_custom_plan as a "
            "startup option, which something between callplane and PostgreSQL dropped, e.g. a "
            "pooler). Set it for the database instead: ALTER DATABASE name SET plan_cache_mode = "
            "force_custom_plan"
        )
