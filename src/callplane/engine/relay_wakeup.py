"""Waking every process's webhook relay when webhook events are committed (PostgreSQL).

A relay is woken in-process when its own process commits events (`outbox.on_events_committed`);
events another process commits (an API process cancelling a call, another worker ending one)
used to wait for the relay's next poll. On PostgreSQL the writing process now says `events` on
`store.notify`'s channel after such a commit, and each relay LISTENs on a connection of its own.

The NOTIFY is sent after the commit, as a statement of its own, for `store.notify`'s reasons (a
NOTIFY inside the writing transaction makes PostgreSQL commit such transactions one at a time),
and by a thread of its own: the commit's thread only sets a flag, and a burst of commits costs one
NOTIFY per round trip. Messages are hints: a relay that misses one (not listening yet,
reconnecting) still finds the events at its next poll. SQLite has no such thing: nothing changes.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from sqlalchemy import Engine

from callplane.store import notify, outbox
from callplane.store.db import Database

EVENTS = "events"

#: One announcer per engine, however many apps or workers of a process share its database.
_announcers: weakref.WeakKeyDictionary[Engine, _Announcer] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


class _Announcer:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._due = threading.Event()
        outbox.on_events_committed(db, self._due.set)
        threading.Thread(target=self._run, name="callplane-announce", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()  # commits from here on are announced by the next NOTIFY
            notify.send(self._db, EVENTS)  # never raises


def announce(db: Database) -> None:
    """From now on, tell every listening relay when this process commits webhook events on `db`
    (PostgreSQL; nothing on SQLite). Calling it again for the same database does nothing."""
    if not db.is_postgres:
        return
    with _lock:
        if db.engine not in _announcers:
            _announcers[db.engine] = _Announcer(db)


def listen(db: Database, wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` (from a thread of its own) whenever any process announces events on `db`;
    returns the function that stops listening (within `notify.POLL_S`). Nothing on SQLite."""
    if not db.is_postgres:
        return lambda: None

    def on_message(message: str) -> None:
        if message == EVENTS:
            wake()

    listener = notify.Listener(db.url, on_message)
    listener.start()
    return listener.stop
