"""Where the worker's database work runs: threads beside the event loop, never on it.

The loop carries live calls (audio frames, turns, timers); a synchronous statement run on it
stops every call for as long as the database takes — on PostgreSQL a network round trip each, on
a loaded host tens of milliseconds. So every database step of the worker is handed to a thread
and awaited (`Lanes.run`): the loop keeps carrying calls meanwhile, and several steps (different
calls' answers and ends, a claim pass, post-call) run against the database at once.

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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Pauses before each retry of a step that met a transient database failure: about 4 s in all,
#: long enough for a pool to reconnect after the server dropped its backends.
RETRY_PAUSES_S = (0.1, 0.5, 1.0, 2.5)


def transient(exc: BaseException) -> bool:
    """A failure a retry may cure: a lost connection, or the server refusing work for a moment."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Lanes:
    def __init__(self, threads: int) -> None:
        self._work = ThreadPoolExecutor(max(1, threads), thread_name_prefix="callplane-db")
        self._leases = ThreadPoolExecutor(1, thread_name_prefix="callplane-lease")

    async def run(self, work: Callable[[], T]) -> T:
        """Run database work in a thread; the loop carries on meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._work, work)

    async def retrying(self, work: Callable[[], T], what: str) -> T:
        """`run`, again after each transient failure (`transient`), up to `RETRY_PAUSES_S`."""
        for pause in RETRY_PAUSES_S:
            try:
                return await self.run(work)
            except Exception as exc:
                if not transient(exc):
                    raise
                log.warning("%s failed (%s); retrying in %.1f s", what, type(exc).__name__, pause)
            await asyncio.sleep(pause)
        return await self.run(work)

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
