"""PostgreSQL LISTEN/NOTIFY: the API tells worker processes at once what they would find later.

Two messages on one channel: `created` (a call was queued: run a claim pass now, not at the next
poll) and `end:<call id>` (an end request was stored: the worker running that call ends it now,
not at its next heartbeat). `send` runs after the change committed, as a statement of its own: a
NOTIFY inside the writing transaction would make PostgreSQL commit all such transactions one at a
time (it holds a global lock from pre-commit through the WAL flush), and a full notification
queue would fail the create itself. Messages are hints, sent best effort: a worker that misses
one (not listening yet, reconnecting, the sender died after its commit) still finds the change
by polling, as it did before.

SQLite has no such thing: there `serve`'s embedded worker is told in-process (the CallService
hooks) and other workers poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from sqlalchemy import Text, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from callplane.store.db import Database
from callplane.store.prepared import Prepared, param

log = logging.getLogger(__name__)

CHANNEL = "callplane"
CREATED = "created"
END_PREFIX = "end:"
#: How long `Listener` waits for messages before it looks whether it should stop (how long
#: `stop()` may block).
POLL_S = 0.1
#: Pause before reconnecting after the connection failed.
RETRY_S = 2.0


_NOTIFY = Prepared(lambda _: select(func.pg_notify(param("channel", Text()), param("message", Text()))))


def send(db: Database, message: str) -> None:
    """Tell the listeners `message` now (PostgreSQL; nothing on SQLite). Never raises."""
    if not db.is_postgres:
        return
    try:
        with db.read() as conn:  # autocommit: delivered as soon as the statement ends
            # Prepared: even `exec_driver_sql`'s execution context cost more than the round trip.
            _NOTIFY.execute(conn, {"channel": CHANNEL, "message": message})
    except SQLAlchemyError as exc:
        log.warning("could not notify workers of %r (%s); they will find it by polling", message, exc)


class Listener:
    """A thread on its own autocommit connection that LISTENs and hands every message to
    `on_message` (called from that thread), reconnecting after failures until `stop()`."""

    def __init__(self, url: str, on_message: Callable[[str], None]) -> None:
        # The bare driver: SQLAlchemy has no API for notifications.
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.on_message = on_message
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callplane-listen", daemon=True)
        self.listening = threading.Event()  #: set while LISTEN is in effect

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=POLL_S * 4)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    self.dsn, autocommit=True, application_name="callplane-listen", connect_timeout=5
                ) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    while not self._stop.is_set():
                        for message in conn.notifies(timeout=POLL_S):
                            self._deliver(message.payload)
            except Exception as exc:  # whatever it was, polling covers for it: retry, never die
                self.listening.clear()
                log.warning("notification listener failed (%s); retrying in %.0f s", exc, RETRY_S)
                self._stop.wait(RETRY_S)
        self.listening.clear()

    def _deliver(self, payload: str) -> None:
        try:
            self.on_message(payload)
        except Exception:
            log.exception("handling notification %r failed", payload)
