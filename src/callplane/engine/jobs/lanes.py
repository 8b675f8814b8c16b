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
so a busy worker does not lose its calls' leases. Claim passes have a lane of their own too
(`Lanes.claim`): a pass never waits for a lane behind a burst of call ends, which would be
claimed calls waiting to be dialled (the pass stamps its claims before it runs).

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

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
    #: The waiter's future, on the loop: completed from the lane through `_deliver`.
    result: asyncio.Future[Any] = field(compare=False)


class Lanes:
    def __init__(self, threads: int, db: Database | None = None) -> None:
        self._threads = max(1, threads)
        self._work = ThreadPoolExecutor(self._threads, thread_name_prefix="callplane-db")
        self._leases = ThreadPoolExecutor(1, thread_name_prefix="callplane-lease")
        self._claims = ThreadPoolExecutor(1, thread_name_prefix="callplane-claim")
        self._db = db
        self._queued: deque[_Step] = deque()
        self._taking = threading.Lock()
        #: Lane jobs committing groups (each takes groups until the queue is empty); counted
        #: under `_taking`, so a step queued as the last job leaves is never stranded.
        self._committers = 0

    async def run(self, work: Callable[[], T]) -> T:
        """Run database work in a thread; the loop carries on meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._work, work)

    async def write(self, work: Callable[[Connection], T], key: str) -> T:
        """Run `work` in a write transaction shared with the other steps queued meanwhile (the
        group commit above); returns its result once that transaction has committed. `key` names
        the row `work` changes (its call), which orders the steps of a group."""
        assert self._db is not None, "group commits need the lanes' database"
        loop = asyncio.get_running_loop()
        step = _Step(key, work, loop.create_future())
        with self._taking:
            self._queued.append(step)
            start = self._committers < self._threads
            if start:
                self._committers += 1
        if start:
            # A committer takes group after group until nothing is queued: a busy worker pays one
            # thread hand-off per committer, not one per step, and one loop wake-up per group
            # (`_deliver`). Through `run_in_executor`, so a VirtualTimeLoop sees the lane busy.
            loop.run_in_executor(self._work, self._commit_groups, loop)
        return cast(T, await step.result)

    def _commit_groups(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            with self._taking:
                if not self._queued:
                    self._committers -= 1
                    return
                group = [self._queued.popleft() for _ in range(min(GROUP_LIMIT, len(self._queued)))]
            # A waiter cancelled before its step ran (its call's task was) gets no work done.
            group = sorted(s for s in group if not s.result.cancelled())
            if group:
                loop.call_soon_threadsafe(_deliver, self._commit_group(group))

    def _commit_group(self, group: list[_Step]) -> list[tuple[_Step, Any, BaseException | None]]:
        """Commit the group; each step with its value or its exception."""
        try:
            values = self._commit(group)
        except Exception as exc:
            if len(group) == 1:
                return [(group[0], None, exc)]
            # Nothing committed; each step again on its own, so one failure stays one.
            outcomes: list[tuple[_Step, Any, BaseException | None]] = []
            for step in group:
                try:
                    [value] = self._commit([step])
                except Exception as alone:
                    outcomes.append((step, None, alone))
                else:
                    outcomes.append((step, value, None))
            return outcomes
        return [(step, value, None) for step, value in zip(group, values, strict=True)]

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

    async def claim(self, work: Callable[[], T]) -> T:
        """Run a claim pass on its own thread, never behind other work."""
        return await asyncio.get_running_loop().run_in_executor(self._claims, work)

    def close(self) -> None:
        """Wait for work already started (a call's outcome being stored) and stop the threads."""
        self._work.shutdown(wait=True)
        self._leases.shutdown(wait=True)
        self._claims.shutdown(wait=True)


def _deliver(outcomes: list[tuple[_Step, Any, BaseException | None]]) -> None:
    """On the loop: hand a committed group's results to their waiters, all in one wake-up."""
    for step, value, error in outcomes:
        if step.result.done():
            continue  # cancelled meanwhile
        if error is None:
            step.result.set_result(value)
        else:
            step.result.set_exception(error)


async def offload(lanes: Lanes | None, work: Callable[[], T]) -> T:
    """Run database work in a lane, or inline without one (a relay or post-call used on its own)."""
    return work() if lanes is None else await lanes.run(work)
