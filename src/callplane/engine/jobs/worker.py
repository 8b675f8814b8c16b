"""The worker: claims calls, runs each through the Conductor, and keeps the durable steps moving.

One asyncio loop runs the claim loop, the periodic jobs (`engine.jobs.chores`: heartbeat,
reaper, post-call, relay, feeder, retention), the progress writer (live calls' transcripts and
collected values stored as they grow, in batches: `engine.jobs.progress`) and one task per live
call (`engine.jobs.callrun`).

The claim loop runs a claim pass (`engine.jobs.dispatcher`) for up to the worker's free capacity;
it runs again at once when woken (a call was created — in this process, or on PostgreSQL in any,
see `store.notify` — or a call finished and freed capacity) and otherwise every
`poll_interval_s`. End requests from the API reach a live call at once through `request_end`
(in-process, or on PostgreSQL by a notification from any process), else at the next heartbeat.

Database work runs in threads beside the loop (`engine.jobs.lanes`), never on it, so live calls
never wait for the database; lease renewals have a thread of their own. The whole worker still
runs on a `VirtualTimeLoop`, where a ten-minute call takes milliseconds. Every time comes from
the injected clock. Several workers — in one process or many, on PostgreSQL —
share the work safely: every claim is exclusive and every change fenced.

Stopping: no new claims; live calls get `shutdown_grace_s` to finish, then they are cancelled
and ended as `error` + `error_voxai` by this worker itself (not left for a reaper), with what
they recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from callplane.config import Settings
from callplane.domain.agent import AgentVersion, VersionKey
from callplane.domain.call import Call
from callplane.engine import metrics
from callplane.engine.blobs import BlobStore
from callplane.engine.clock import Clock
from callplane.engine.dialing import Claimed
from callplane.engine.jobs import dispatcher
from callplane.engine.jobs.analysis import Analyser, OfflineAnalyser
from callplane.engine.jobs.callrun import CallRun
from callplane.engine.jobs.chores import Chores
from callplane.engine.jobs.lanes import Lanes
from callplane.engine.jobs.postcall import PostCall, PostCallConfig
from callplane.engine.jobs.progress import ProgressWriter
from callplane.engine.jobs.relay import Relay, RelayConfig
from callplane.engine.live.conduct import Conductor
from callplane.engine.memo import Memo
from callplane.engine.services.calls import CallService
from callplane.store import notify
from callplane.store.db import Database

log = logging.getLogger(__name__)

_ERROR_PAUSE_S = 1.0
_VERSION_CACHE = 1000


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    capacity: int = 50  #: live calls this worker runs at once
    lease_s: float = 30.0
    heartbeat_s: float = 5.0
    poll_interval_s: float = 1.0
    reaper_interval_s: float = 5.0
    scan_limit: int = 200  #: queued calls looked at per claim pass
    #: A fresh worker claims at most this many calls at first, doubling every `claim_ramp_s` up
    #: to `capacity` (0: no ramp): a worker that dies soon after it starts (a crash loop) takes
    #: few queued calls down with it instead of a full capacity's worth.
    claim_start: int = 5
    claim_ramp_s: float = 1.0
    #: Calls claimed per claim pass at most (passes follow each other at once while there are
    #: more): a pass is one transaction, and each call it claims waits for the whole pass.
    claim_batch: int = 50
    #: A claim pass woken by a new call while calls are live waits this long first, so calls
    #: arriving together share a pass: their queue-to-claim grows by up to this much.
    claim_gather_s: float = 0.05
    #: Threads for the worker's database work (`engine.jobs.lanes`), besides the lease thread.
    db_threads: int = 4
    shutdown_grace_s: float = 30.0
    #: Deliver webhooks from this worker (off: leave them to other workers' relays).
    run_relay: bool = True
    #: Delete finished webhook deliveries this long after they finished (None: keep them),
    #: looking every `retention_interval_s`.
    webhook_retention_s: float | None = 30 * 86_400.0
    #: Delete recordings this long after their call ended (None: keep them), looking every
    #: `retention_interval_s`.
    recordings_retention_s: float | None = None
    retention_interval_s: float = 3600.0
    #: PostgreSQL: hear new calls and end requests at once (`store.notify`), not at the next
    #: poll or heartbeat.
    listen: bool = True
    postcall: PostCallConfig = field(default_factory=PostCallConfig)
    relay: RelayConfig = field(default_factory=RelayConfig)

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        return cls(
            capacity=settings.worker_capacity,
            lease_s=settings.worker_lease_s,
            heartbeat_s=settings.worker_heartbeat_s,
            poll_interval_s=settings.worker_poll_interval_s,
            reaper_interval_s=settings.worker_reaper_interval_s,
            claim_ramp_s=settings.worker_claim_ramp_s,
            shutdown_grace_s=settings.worker_shutdown_grace_s,
            relay=RelayConfig(
                timeout_s=settings.webhook_timeout_s, allow_private=settings.allow_private_destinations
            ),
            webhook_retention_s=settings.webhook_retention_days * 86_400 or None,
            recordings_retention_s=settings.recordings_retention_days * 86_400 or None,
        )


class Worker:
    def __init__(
        self,
        db: Database,
        conductor: Conductor,
        *,
        clock: Clock,
        analyser: Analyser | None = None,
        config: WorkerConfig | None = None,
        worker_id: str | None = None,
        relay: Relay | None = None,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
        blobs: BlobStore | None = None,
        orphans: Callable[[Call], Awaitable[None]] | None = None,
        recording_links: Callable[[str], str] | None = None,
    ) -> None:
        self.db = db
        self.conductor = conductor
        self.clock = clock
        self.config = config or WorkerConfig()
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.lanes = Lanes(self.config.db_threads, db)
        #: Lease renewals' own connection: never waiting for one of a pool that API requests
        #: (an embedded worker) or a burst of call ends have taken.
        self.lease_db = Database(db.url, pool_size=1)
        self.postcall = PostCall(
            db, clock, analyser or OfflineAnalyser(), self.config.postcall, lanes=self.lanes
        )
        self.relay = relay or Relay(db, clock, self.config.relay, lanes=self.lanes, links=recording_links)
        self.progress = ProgressWriter(db, self.lanes)
        #: Run when the worker stops, after its calls: closes what the conductor holds open
        #: (the runtimes' HTTP clients).
        self.closers = list(closers)
        #: Where recordings go; None: recordings are not kept.
        self.blobs = blobs
        #: Hangs up at the carrier a call the reaper ended (its worker died mid-call).
        self.orphans = orphans
        self._hanging_up: set[asyncio.Future[None]] = set()
        self.runs: dict[str, CallRun] = {}
        self.versions: Memo[VersionKey, AgentVersion] = Memo(_VERSION_CACHE)
        self.calls = CallService(db, clock.now_ms)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._started_at: int | None = None
        self.dialed = 0  #: calls claimed since start (for benchmarks and logs)

    # Control, safe from any thread ---------------------------------------------------------

    def wake(self) -> None:
        """Run a claim pass now (CallService.on_created calls this, possibly from another thread)."""
        self._threadsafe(self._wake.set)

    def stop(self) -> None:
        self._threadsafe(self._stopping.set)

    def request_end(self, call_id: str) -> None:
        """End this live call now if this worker runs it; its end request is already stored
        (CallService.on_end_requested calls this, possibly from another thread)."""
        self._threadsafe(lambda: self._flag_end(call_id))

    def _flag_end(self, call_id: str) -> None:
        run = self.runs.get(call_id)
        if run is not None:
            run.end_flag = True

    @property
    def _listens(self) -> bool:
        return self.config.listen and self.db.is_postgres

    def _on_notice(self, message: str) -> None:
        # From the listener's thread; both actions are thread-safe.
        if message == notify.CREATED:
            self.wake()
        elif message.startswith(notify.END_PREFIX):
            self.request_end(message.removeprefix(notify.END_PREFIX))

    def _threadsafe(self, action: Callable[[], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            action()  # not running (yet): nothing waits on the event, setting it is safe
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            action()
        else:
            loop.call_soon_threadsafe(action)

    @property
    def live_calls(self) -> int:
        return len(self.runs)

    # The loops -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`; then finish or end live calls and return."""
        self._loop = asyncio.get_running_loop()
        self._started_at = self.clock.now_ms()
        log.info("worker %s started (capacity %d)", self.id, self.config.capacity)
        dispatching = asyncio.create_task(self._dispatch_loop(), name="dispatcher")
        loops = [
            dispatching,
            *Chores(self).start(),
            asyncio.create_task(self.progress.run(), name="progress"),
        ]
        listener = notify.Listener(self.db.url, self._on_notice) if self._listens else None
        if listener is not None:
            listener.start()
        try:
            await self._stopping.wait()
            # A claim pass in flight when the stop came has claimed its calls in the database:
            # it must hand them to runs (which the drain then waits for), not be cancelled with
            # them claimed and unrun — the reaper would end them as errors.
            self._wake.set()
            await asyncio.gather(dispatching, return_exceptions=True)
            await self._shutdown()
        finally:
            if listener is not None:
                listener.stop()  # within notify.POLL_S
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self.progress.aclose()
            await self.relay.aclose()
            for close in self.closers:
                try:
                    await close()
                except Exception:
                    log.exception("closing %s failed", getattr(close, "__qualname__", close))
            await asyncio.get_running_loop().run_in_executor(None, self.lanes.close)
            self.lease_db.dispose()
            log.info("worker %s stopped", self.id)

    async def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                result = await self._dispatch_once()
            except Exception:
                log.exception("claim pass failed")
                metrics.engine_errors.labels("claim").inc()
                await asyncio.sleep(_ERROR_PAUSE_S)
                continue
            full_batch = len(result.claimed) >= self.config.claim_batch
            again = (full_batch or (result.more and result.changed)) and self._allowed() > len(self.runs)
            if again:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)
                # Woken by a new call while busy: let the calls arriving just behind it share its
                # pass (a pass costs ~10 statements whatever it claims; one per arrival at 100/s
                # was the worker's largest cost after the calls themselves). An idle worker
                # claims at once.
                if self.runs:
                    await asyncio.sleep(self.config.claim_gather_s)

    def _allowed(self) -> int:
        """Live calls this worker may hold now: its capacity, or less while it ramps up."""
        config = self.config
        if config.claim_ramp_s <= 0 or self._started_at is None:
            return config.capacity
        steps = (self.clock.now_ms() - self._started_at) / 1000 / config.claim_ramp_s
        return min(config.capacity, config.claim_start * (1 << min(int(steps), 30)))

    async def _dispatch_once(self) -> dispatcher.PassResult:
        free = max(0, min(self._allowed() - len(self.runs), self.config.claim_batch))
        now = self.clock.now_ms()
        result = await self.lanes.claim(
            lambda: dispatcher.dispatch(
                self.db,
                owner=self.id,
                now=now,
                capacity=free,
                lease_ms=int(self.config.lease_s * 1000),
                scan_limit=self.config.scan_limit,
            )
        )
        for claimed in result.claimed:
            self._start(claimed)
        return result

    def adopt(self, call: Call, claimed_at: int) -> None:
        """Run a call this worker's id was given outside a claim pass (an incoming call the
        carrier offered to this process: `call` is dialing, with its attempt); safe from any
        thread."""
        claimed = Claimed(call, call.attempt, claimed_at)
        self._threadsafe(lambda: self._start(claimed))

    def _start(self, claimed: Claimed) -> None:
        log.info(
            "claimed call %s (attempt %d)",
            claimed.call.id,
            claimed.attempt,
            extra={"request_id": claimed.call.request_id, "call_id": claimed.call.id},
        )
        run = CallRun(self, claimed)
        self.runs[claimed.call.id] = run
        metrics.worker_live_calls.inc()
        run.task = asyncio.create_task(run.conduct(), name=f"call {claimed.call.id}")
        self.dialed += 1

    def run_done(self, run: CallRun) -> None:
        """A live call is over and its outcome stored (or given up on): free its place."""
        if self.runs.pop(run.call.id, None) is not None:
            metrics.worker_live_calls.dec()
        self._wake.set()

    def hang_up_orphan(self, call: Call) -> None:
        """Hang up at the carrier a call the reaper ended (on the loop; the reaper runs in a lane)."""
        if self.orphans is None:
            return
        task: asyncio.Future[None] = asyncio.ensure_future(self.orphans(call))
        self._hanging_up.add(task)
        task.add_done_callback(self._orphan_done)

    def _orphan_done(self, task: asyncio.Future[None]) -> None:
        self._hanging_up.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hanging up an orphaned carrier call failed", exc_info=task.exception())

    async def _shutdown(self) -> None:
        runs = [r.task for r in self.runs.values() if r.task is not None]
        if runs:
            log.info("waiting up to %.0f s for %d live calls", self.config.shutdown_grace_s, len(runs))
            _done, pending = await asyncio.wait(runs, timeout=self.config.shutdown_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
