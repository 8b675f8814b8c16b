"""Where the worker's database work runs: threads beside the event loop, never on it.

The loop carries live calls (audio frames, turns, timers); a synchronous statement run on it
stops every call for as long as the database takes — on PostgreSQL a network round trip each, on
a loaded host tens of milliseconds. So every database step of the worker is handed to a thread
and awaited (`Lanes.run`): the loop keeps carrying calls meanwhile, and several steps (different
calls' answers and ends, a claim pass, post-call) run against the database at once.

Small write steps of single calls (ringing, answered, the end, post-call completion) go through
`Lanes.write`, a group commit: the steps queued while every lane was busy are run by the next
free lane in one transaction, and each waiter gets its own result once the whole group has
committed. A commit (a WAL flush) per group instead of per step: under load several calls share
one. A step that fails must not take the others down with it: the group is rolled back and each
of its steps runs again in a transaction of its own, so only the failing step's waiter gets the
exception. (A SAVEPOINT around each step would do the same, at two more statements per step on
every group; steps fail rarely — a database failure, a bug — so the group pays only then. Every
step is a fenced transition written to be run again, see `retrying`.)

The steps of a group run in the order of their keys (the call they change), the order every
multi-row write of the worker takes its rows in (`store.queue.renew_leases`,
`store.progress.store`), so on PostgreSQL two of them do not deadlock over calls' rows. (One
that still happens — post-call steps also settle their organisation's balance row — is an
`OperationalError`, retried like any transient failure.)

Lease renewals have their own lane of one thread (`Lanes.renew`) and the worker gives them their
own connection: they never queue behind a claim pass, a reaper batch or a burst of call ends,
so a busy worker does not lose its calls' leases.

A step that must not be lost to a database blip (a restart, a terminated backend, SQLite's lock
held too long) is run with `Lanes.retrying`: every such step is a fenced, forward-only
transition, so running it again after an unknown outcome cannot apply it twice.

On a `VirtualTimeLoop` (tests) the loop's clock stands still while a lane works, as if the work had
run inline (`engine.clock`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection

from callplane.store.db import Database, transient

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Pauses before each retry of a step that met a transient database failure: about 4 s in all,
#: long enough for a pool to reconnect after the server dropped its backends.
RETRY_PAUSES_S = (0.1, 0.5, 1.0, 2.5)

#: Steps in one group commit at most: a transaction's locks are held until its last step is done.
GROUP_LIMIT = 64


@dataclass(order=True)
class _Step:
    key: str
    work: Callable[[Connection], Any] = field(compare=False)
    result: Future[Any] = field(compare=False, default_factory=Future)


class Lanes:
    def __init__(self, threads: int, db: Database | None = None) -> None:
        self._work = ThreadPoolExecutor(max(1, threads), thread_name_prefix="callplane-db")
        self._leases = ThreadPoolExecutor(1, thread_name_prefix="callplane-lease")
        self._db = db
        self._queued: deque[_Step] = deque()
        self._taking = threading.Lock()

    async def run(self, work: Callable[[], T]) -> T:
        """Run database work in a thread; the loop carries on meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._work, work)

    async def write(self, work: Callable[[Connection], T], key: str) -> T:
        """Run `work` in a write transaction shared with the other steps queued meanwhile (the
        group commit above); returns its result once that transaction has committed. `key` names
        the row `work` changes (its call), which orders the steps of a group."""
        assert self._db is not None, "group commits need the lanes' database"
        step = _Step(key, work)
        self._queued.append(step)
        # Every step brings a lane job: the first free lane takes everything queued by then, so
        # this job may find nothing left (its step is in an earlier group, still running — on a
        # VirtualTimeLoop that group's job keeps the clock still).
        await asyncio.get_running_loop().run_in_executor(self._work, self._commit_group)
        return await asyncio.wrap_future(step.result)

    def _commit_group(self) -> None:
        assert self._db is not None
        with self._taking:
            group = [self._queued.popleft() for _ in range(min(GROUP_LIMIT, len(self._queued)))]
        group = sorted(s for s in group if s.result.set_running_or_notify_cancel())
        if not group:
            return
        try:
            values = self._commit(group)
        except Exception as exc:
            if len(group) == 1:
                group[0].result.set_exception(exc)
                return
            # Nothing committed; each step again on its own, so one failure stays one.
            for step in group:
                try:
                    [value] = self._commit([step])
                except Exception as alone:
                    step.result.set_exception(alone)
                else:
                    step.result.set_result(value)
            return
        for step, value in zip(group, values, strict=True):
            step.result.set_result(value)

    def _commit(self, group: list[_Step]) -> list[Any]:
        assert self._db is not None
        with self._db.write() as conn:
            return [step.work(conn) for step in group]

    async def retrying(self, work: Callable[[], Awaitable[T]], what: str) -> T:
        """Await `work()` (a `run` or a `write`), again after each transient failure
        (`transient`), up to `RETRY_PAUSES_S`."""
        for pause in RETRY_PAUSES_S:
            try:
                return await work()
            except Exception as exc:
                if not transient(exc):
                    raise
                log.warning("%s failed (%s); retrying in %.1f s", what, type(exc).__name__, pause)
            await asyncio.sleep(pause)
        return await work()

    async def renew(self, work: Callable[[], T]) -> T:
        """Run a lease renewal on its own thread, never behind other work."""
        return await asyncio.get_running_loop().run_in_executor(self._leases, work)

    def close(self) -> None:
        """Wait for work already started (a call's outcome being stored) and stop the threads."""
        self._work.shutdown(wait=True)
        self._leases.shutdown(wait=True)


async def offload(lanes: Lanes | None, work: Callable[[], T]) -> T:
    """Run database work in a lane, or inline without one (a relay or post-call used on its own)."""
    return work() if lanes is None else await lanes.run(work)
