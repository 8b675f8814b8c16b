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

#: One announcer per engine, however many apps or workers of a process share its database. An
#: announcer holds its database only weakly: it ends (its thread within `_LOOK_S`, its entry
#: here with the engine) once nothing else holds the database, instead of one per database a
#: process ever announced on staying for good (tests and embedded apps make many).
_announcers: weakref.WeakKeyDictionary[Engine, _Announcer] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
#: How often an idle announcer looks whether its database is still there.
_LOOK_S = 5.0


class _Announcer:
    def __init__(self, db: Database) -> None:
        self.due = threading.Event()
        self.stopping = threading.Event()
        # The engine's listener holds the event only: nothing here keeps the database alive.
        outbox.on_events_committed(db, self.due.set)
        self.thread = threading.Thread(
            target=_run,
            args=(weakref.ref(db), self.due, self.stopping),
            name="callplane-announce",
            daemon=True,
        )
        self.thread.start()

    def finish(self, db: Database) -> None:
        """Stop the thread, then send in the caller's thread an announcement still due."""
        pending = self.due.is_set()
        self.stopping.set()
        self.due.set()  # wakes it
        self.thread.join(_LOOK_S)  # a NOTIFY it is sending goes out first
        if pending:
            notify.send(db, EVENTS)


def _run(ref: weakref.ref[Database], due: threading.Event, stopping: threading.Event) -> None:
    while True:
        signalled = due.wait(_LOOK_S)
        db = ref()
        if db is None or stopping.is_set():
            return  # the database is gone (nothing to announce), or `finish` announces the rest
        if signalled:
            due.clear()  # commits from here on are announced by the next NOTIFY
            notify.send(db, EVENTS)  # never raises
        del db


def announce(db: Database) -> None:
    """From now on, tell every listening relay when this process commits webhook events on `db`
    (PostgreSQL; nothing on SQLite). Calling it again for the same database does nothing."""
    if not db.is_postgres:
        return
    with _lock:
        if db.engine not in _announcers:
            _announcers[db.engine] = _Announcer(db)


def finish(db: Database) -> None:
    """Announce now what this process committed on `db` and has not announced yet, and stop
    announcing on it: a short-lived process (a CLI command) calls it before it closes the
    database and exits, when the announcer's thread may not have run yet."""
    with _lock:
        announcer = _announcers.pop(db.engine, None)
    if announcer is not None:
        announcer.finish(db)


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
