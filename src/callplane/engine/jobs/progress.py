"""Live calls' records stored as they grow, off the loop that carries the calls' audio.

The conductor reports a call's record (transcript and collected values) through
`CallHooks.progress` each time it grows; the worker hands it to its `ProgressWriter`, which keeps
only the latest record per call and writes what is pending in one transaction, in one of the
worker's database lanes (`engine.jobs.lanes`), every `window_s` at most. The call never waits on
the database; a worker killed mid-call loses at most the last `window_s` of its record, and a
record written by a worker that has lost the call's lease is discarded by the fence
(`store.progress`).

`salvaged` gives an outcome the conductor could not return (the worker stopped the call, or a
bug) what the call recorded, so it is stored, analysed and priced on what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import replace
from typing import Any

from callplane.domain.call import TranscriptEntry
from callplane.engine import metrics
from callplane.engine.jobs.lanes import Lanes, offload
from callplane.engine.live.conduct import Outcome
from callplane.store import progress
from callplane.store.db import Database
from callplane.store.progress import Record

log = logging.getLogger(__name__)

_RETRY_PAUSE_S = 1.0


class ProgressWriter:
    def __init__(self, db: Database, lanes: Lanes | None = None, *, window_s: float = 0.25) -> None:
        self.db = db
        self.lanes = lanes
        self.window_s = window_s
        self._pending: dict[str, Record] = {}
        self._wake = asyncio.Event()
        self._writing: asyncio.Future[int] | None = None

    def put(self, record: Record) -> None:
        """Keep `record` to be written (replacing an older one of the same call). Never blocks."""
        self._pending[record.call_id] = record
        self._wake.set()

    def forget(self, call_id: str) -> None:
        """The call's outcome carries its whole record: a pending copy is not needed any more."""
        self._pending.pop(call_id, None)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.window_s)  # records of every live call that grew meanwhile
            if not await self.flush():
                await asyncio.sleep(_RETRY_PAUSE_S)

    async def flush(self) -> bool:
        """Write what is pending now; False if the database failed (the records stay pending)."""
        self._wake.clear()
        batch, self._pending = list(self._pending.values()), {}
        if not batch:
            return True
        self._writing = asyncio.ensure_future(offload(self.lanes, lambda: self._write(batch)))
        try:
            # Shielded: a cancelled writer still lets the thread's transaction finish.
            await asyncio.shield(self._writing)
        except Exception:
            log.exception("storing the records of %d live calls failed", len(batch))
            metrics.engine_errors.labels("progress").inc()
            for record in batch:  # unless a newer one came meanwhile
                self._pending.setdefault(record.call_id, record)
            self._wake.set()
            return False
        return True

    def _write(self, batch: list[Record]) -> int:
        with self.db.write() as conn:
            return progress.store(conn, batch)

    async def aclose(self) -> None:
        """Wait for a write in flight (the worker stops after its calls' outcomes are stored)."""
        if self._writing is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._writing


def salvaged(outcome: Outcome, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> Outcome:
    """`outcome` with the record the call reported, where the outcome has none of its own."""
    return replace(
        outcome, transcript=outcome.transcript or transcript, collected=outcome.collected or collected
    )
