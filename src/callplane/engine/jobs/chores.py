"""The worker's periodic jobs, beside its claim loop and its live calls.

- heartbeat — every `heartbeat_s`, one statement renews the lease of every live call the worker
  holds, on the lease lane and its own connection (`engine.jobs.lanes`: never behind other
  database work); calls it no longer holds (reaped) are cancelled, and end requests from the API
  are picked up here (`CallHooks.end_requested`) unless the API told the worker at once;
- reaper — every `reaper_interval_s`, ends calls whose lease expired (`engine.jobs.reaper`);
- post-call — runs due post-call steps (`engine.jobs.postcall`);
- relay — delivers due webhooks (`engine.jobs.relay`), woken when this process commits events;
- feeder — every `poll_interval_s`, turns running campaigns' tasks into queued calls
  (`engine.jobs.feeder`); it wakes the claim loop when it made calls;
- retention and key expiry — purge finished webhook deliveries and spent Idempotency-Keys in
  batches, yielding between them.

Every database step runs in a lane thread, so none of them holds up the loop that carries calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING

from callplane.domain.call import Call
from callplane.engine import metrics
from callplane.engine.blobs import BlobStore
from callplane.engine.jobs import feeder, reaper
from callplane.engine.services import idempotency, recordings
from callplane.store import queue, retention

if TYPE_CHECKING:
    from callplane.engine.jobs.worker import Worker

log = logging.getLogger(__name__)

_PURGE_BATCH = 500


class Chores:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def start(self) -> list[asyncio.Task[None]]:
        w = self.worker
        config = w.config
        tasks = [
            asyncio.create_task(self._every(config.heartbeat_s, self.heartbeat), name="heartbeat"),
            asyncio.create_task(self._every(config.reaper_interval_s, self.reap), name="reaper"),
            asyncio.create_task(self._every(config.poll_interval_s, self.feed), name="feeder"),
            asyncio.create_task(self._drain(w.postcall.run_due, config.postcall.batch), name="postcall"),
        ]
        if config.run_relay:
            tasks.append(asyncio.create_task(w.relay.run(config.poll_interval_s), name="relay"))
        if config.webhook_retention_s is not None:
            tasks.append(asyncio.create_task(self._retain(), name="retention"))
        tasks.append(asyncio.create_task(self._expire_keys(), name="idempotency-keys"))
        if config.recordings_retention_s is not None and w.blobs is not None:
            tasks.append(asyncio.create_task(self._purge_recordings(w.blobs), name="recordings"))
        return tasks

    async def _every(self, interval_s: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await step()
            except Exception:
                log.exception("%s failed", getattr(step, "__name__", step))
                metrics.engine_errors.labels(getattr(step, "__name__", "step").strip("_")).inc()

    async def _drain(self, step: Callable[[], Awaitable[int]], batch: int) -> None:
        """Run a batch step; again at once while it finds full batches, else every poll interval."""
        while True:
            try:
                done = await step()
            except Exception:
                log.exception("%s failed", getattr(step, "__qualname__", step))
                metrics.engine_errors.labels(getattr(step, "__name__", "step").strip("_")).inc()
                done = 0
            if done < batch:
                await asyncio.sleep(self.worker.config.poll_interval_s)

    async def heartbeat(self) -> None:
        w = self.worker
        # Judged are only the calls held before the renewal starts: a claim pass runs beside it
        # (in another thread), and a call it claims meanwhile is no lost lease.
        runs = dict(w.runs)
        if not runs:
            return
        now = w.clock.now_ms()

        def renew() -> list[queue.Lease]:
            with w.lease_db.write() as conn:
                return queue.renew_leases(conn, w.id, now, int(w.config.lease_s * 1000))

        held = await w.lanes.renew(renew)
        still = {lease.call_id: lease for lease in held}
        for call_id, run in runs.items():
            if call_id not in w.runs or run.ending:
                # Its outcome is being stored, or was: a lease the end's commit ended is no loss,
                # and the end is fenced on the attempt anyway.
                continue
            lease = still.get(call_id)
            if lease is None or lease.attempt != run.attempt:
                if not run.lost and run.task is not None:
                    log.warning("lost the lease of call %s; abandoning it", call_id)
                    run.lost = True
                    run.task.cancel()
            elif lease.end_requested:
                run.end_flag = True

    async def feed(self) -> None:
        w = self.worker
        now = w.clock.now_ms()
        if (await w.lanes.run(lambda: feeder.feed(w.db, w.calls, now))).created:
            w.wake()

    async def reap(self) -> None:
        w = self.worker
        now = w.clock.now_ms()
        reaped: list[Call] = []
        await w.lanes.run(lambda: reaper.reap(w.db, now, on_reaped=reaped.append))
        for call in reaped:  # back on the loop: hanging up at the carrier is network I/O
            w.hang_up_orphan(call)

    async def _retain(self) -> None:
        """Purge the webhook log in batches, yielding between them so live calls keep going."""
        w = self.worker
        retention_s = w.config.webhook_retention_s
        assert retention_s is not None
        while True:
            try:
                before = w.clock.now_ms() - int(retention_s * 1000)
                purged = await w.lanes.run(partial(self._purge_webhook_log, before))
            except Exception:
                log.exception("webhook log purge failed")
                purged = 0
            await asyncio.sleep(0 if purged == _PURGE_BATCH else w.config.retention_interval_s)

    def _purge_webhook_log(self, before: int) -> int:
        with self.worker.db.write() as conn:
            return retention.purge_webhook_log(conn, before, _PURGE_BATCH)

    async def _expire_keys(self) -> None:
        """Delete Idempotency-Keys past their 24 h in batches, yielding between them."""
        w = self.worker
        while True:
            try:
                purged = await w.lanes.run(partial(idempotency.purge_expired, w.db, w.clock.now_ms()))
            except Exception:
                log.exception("idempotency key purge failed")
                purged = 0
            await asyncio.sleep(0 if purged >= idempotency.PURGE_BATCH else w.config.retention_interval_s)

    async def _purge_recordings(self, blobs: BlobStore) -> None:
        """Delete recordings past retention; in a thread, since blob stores block (S3 is HTTP)."""
        w = self.worker
        assert w.config.recordings_retention_s is not None
        while True:
            before = w.clock.now_ms() - int(w.config.recordings_retention_s * 1000)
            try:
                await asyncio.to_thread(recordings.purge, w.db, blobs, before)
            except Exception:
                log.exception("recording purge failed")
            await asyncio.sleep(w.config.retention_interval_s)
