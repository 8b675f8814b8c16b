"""The worker: claims calls, runs each through the Conductor, and keeps the durable steps moving.

One asyncio loop runs five tasks, plus one task per live call:

- dispatcher — a claim pass (`engine.jobs.dispatcher`) for up to the worker's free capacity; it runs
  again at once when woken (a call was created — in this process, or on PostgreSQL in any, see
  `store.notify` — or a call finished and freed capacity) and otherwise every `poll_interval_s`;
- heartbeat — every `heartbeat_s`, one statement renews the lease of every live call this worker
  holds; calls it no longer holds (reaped) are cancelled, and end requests from the API are
  picked up here (`CallHooks.end_requested`) unless the API told this worker at once
  (`request_end`: in-process, or on PostgreSQL by a notification from any process);
- reaper — every `reaper_interval_s`, ends calls whose lease expired (`engine.jobs.reaper`);
- post-call — runs due post-call steps (`engine.jobs.postcall`);
- relay — delivers due webhooks (`engine.jobs.relay`);
- feeder — every `poll_interval_s`, turns running campaigns' tasks into queued calls up to each
  campaign's concurrency and settles the tasks whose calls ended (`engine.jobs.feeder`); it wakes
  the dispatcher when it made calls.

Database calls are synchronous and run inline on the loop: they are short, and it keeps the
whole worker runnable on a `VirtualTimeLoop`, where a ten-minute call takes milliseconds. Every
time comes from the injected clock. Several workers — in one process or many, on PostgreSQL —
share the work safely: every claim is exclusive and every change fenced.

Stopping: no new claims; live calls get `shutdown_grace_s` to finish, then they are cancelled
and ended as `error` + `error_voxai` by this worker itself (not left for a reaper).
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

from sqlalchemy.exc import DBAPIError

from callplane.config import Settings
from callplane.domain.agent import AgentVersion, VersionKey
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.engine import lifecycle, logcontext, metrics
from callplane.engine.clock import Clock
from callplane.engine.jobs import dispatcher, feeder, reaper
from callplane.engine.jobs.analysis import Analyser, OfflineAnalyser
from callplane.engine.jobs.dispatcher import Claimed
from callplane.engine.jobs.postcall import PostCall, PostCallConfig
from callplane.engine.jobs.relay import Relay, RelayConfig
from callplane.engine.live.conduct import Conductor, Outcome
from callplane.engine.memo import Memo
from callplane.engine.services import idempotency
from callplane.engine.services.calls import CallService
from callplane.store import agents as agent_store
from callplane.store import lifecycle as store_lifecycle
from callplane.store import notify, queue, retention
from callplane.store.db import Database
from callplane.store.lifecycle import Ending

log = logging.getLogger(__name__)

_TERMINAL_OUTCOMES = frozenset({CallStatus.ENDED, CallStatus.NOT_CONNECTED, CallStatus.ERROR})
_ERROR_PAUSE_S = 1.0
_VERSION_CACHE = 1000
_PURGE_BATCH = 500


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    capacity: int = 50  #: live calls this worker runs at once
    lease_s: float = 30.0
    heartbeat_s: float = 5.0
    poll_interval_s: float = 1.0
    reaper_interval_s: float = 5.0
    scan_limit: int = 200  #: queued calls looked at per claim pass
    shutdown_grace_s: float = 30.0
    #: Deliver webhooks from this worker (off: leave them to other workers' relays).
    run_relay: bool = True
    #: Delete finished webhook deliveries this long after they finished (None: keep them),
    #: looking every `retention_interval_s`.
    webhook_retention_s: float | None = 30 * 86_400.0
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
            shutdown_grace_s=settings.worker_shutdown_grace_s,
            relay=RelayConfig(
                timeout_s=settings.webhook_timeout_s, allow_private=settings.allow_private_destinations
            ),
            webhook_retention_s=settings.webhook_retention_days * 86_400 or None,
        )


class _Run:
    """One live call on this worker: the claim, its task, and the hooks the Conductor calls."""

    def __init__(self, worker: Worker, claimed: Claimed) -> None:
        self.worker = worker
        self.claimed = claimed
        self.call = claimed.call
        self.attempt = claimed.attempt
        self.is_answered = False
        self.end_flag = False
        self.lost = False
        self.task: asyncio.Task[None] | None = None

    async def ringing(self, telephony_id: str) -> None:
        w = self.worker
        metrics.claim_to_dial.observe(max(0, w.clock.now_ms() - self.claimed.claimed_at) / 1000)
        with w.db.write() as conn:
            store_lifecycle.ring(
                conn,
                self.call.organization_id,
                self.call.id,
                fence=self.attempt,
                telephony_id=telephony_id,
                now=w.clock.now_ms(),
            )

    async def answered(self, at_ms: int) -> None:
        w = self.worker
        with w.db.write() as conn:
            self.is_answered = lifecycle.answered(
                conn, self.call, fence=self.attempt, at=at_ms, now=w.clock.now_ms()
            )

    def end_requested(self) -> bool:
        return self.end_flag


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
        orphans: Callable[[Call], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.conductor = conductor
        self.clock = clock
        self.config = config or WorkerConfig()
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.postcall = PostCall(db, clock, analyser or OfflineAnalyser(), self.config.postcall)
        self.relay = relay or Relay(db, clock, self.config.relay)
        #: Run when the worker stops, after its calls: closes what the conductor holds open
        #: (the runtimes' HTTP clients).
        self.closers = list(closers)
        #: Hangs up at the carrier a call the reaper ended (its worker died mid-call).
        self.orphans = orphans
        self._hanging_up: set[asyncio.Future[None]] = set()
        self._runs: dict[str, _Run] = {}
        self._versions: Memo[VersionKey, AgentVersion] = Memo(_VERSION_CACHE)
        self._calls = CallService(db, clock.now_ms)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
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
        run = self._runs.get(call_id)
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
        return len(self._runs)

    # The loops -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until `stop()`; then finish or end live calls and return."""
        self._loop = asyncio.get_running_loop()
        log.info("worker %s started (capacity %d)", self.id, self.config.capacity)
        loops = [
            asyncio.create_task(self._dispatch_loop(), name="dispatcher"),
            asyncio.create_task(self._every(self.config.heartbeat_s, self._heartbeat), name="heartbeat"),
            asyncio.create_task(self._every(self.config.reaper_interval_s, self._reap), name="reaper"),
            asyncio.create_task(self._every(self.config.poll_interval_s, self._feed), name="feeder"),
            asyncio.create_task(
                self._drain(self.postcall.run_due, self.config.postcall.batch), name="postcall"
            ),
        ]
        if self.config.run_relay:
            loops.append(
                asyncio.create_task(
                    self._drain(self.relay.deliver_due, self.config.relay.batch), name="relay"
                )
            )
        if self.config.webhook_retention_s is not None:
            loops.append(asyncio.create_task(self._retain(), name="retention"))
        loops.append(asyncio.create_task(self._expire_keys(), name="idempotency-keys"))
        listener = notify.Listener(self.db.url, self._on_notice) if self._listens else None
        if listener is not None:
            listener.start()
        try:
            await self._stopping.wait()
            await self._shutdown()
        finally:
            if listener is not None:
                listener.stop()  # within notify.POLL_S
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            await self.relay.aclose()
            for close in self.closers:
                try:
                    await close()
                except Exception:
                    log.exception("closing %s failed", getattr(close, "__qualname__", close))
            log.info("worker %s stopped", self.id)

    async def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                result = self._dispatch_once()
            except Exception:
                log.exception("claim pass failed")
                metrics.engine_errors.labels("claim").inc()
                await asyncio.sleep(_ERROR_PAUSE_S)
                continue
            again = result.more and result.changed and self.config.capacity > len(self._runs)
            if again:
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_interval_s)

    def _dispatch_once(self) -> dispatcher.PassResult:
        result = dispatcher.dispatch(
            self.db,
            owner=self.id,
            now=self.clock.now_ms(),
            capacity=max(0, self.config.capacity - len(self._runs)),
            lease_ms=int(self.config.lease_s * 1000),
            scan_limit=self.config.scan_limit,
        )
        for claimed in result.claimed:
            self._start(claimed)
        return result

    def adopt(self, claimed: Claimed) -> None:
        """Run a call this worker's id was given outside a claim pass (an incoming call the
        carrier offered to this process); safe from any thread."""
        self._threadsafe(lambda: self._start(claimed))

    def _start(self, claimed: Claimed) -> None:
        log.info(
            "claimed call %s (attempt %d)",
            claimed.call.id,
            claimed.attempt,
            extra={"request_id": claimed.call.request_id, "call_id": claimed.call.id},
        )
        run = _Run(self, claimed)
        self._runs[claimed.call.id] = run
        metrics.worker_live_calls.inc()
        run.task = asyncio.create_task(self._conduct(run), name=f"call {claimed.call.id}")
        self.dialed += 1

    async def _every(self, interval_s: float, step: Callable[[], None]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                step()
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
                await asyncio.sleep(self.config.poll_interval_s)

    def _heartbeat(self) -> None:
        if not self._runs:
            return
        with self.db.write() as conn:
            held = queue.renew_leases(conn, self.id, self.clock.now_ms(), int(self.config.lease_s * 1000))
        still = {lease.call_id: lease for lease in held}
        for call_id, run in list(self._runs.items()):
            lease = still.get(call_id)
            if lease is None or lease.attempt != run.attempt:
                if not run.lost and run.task is not None:
                    log.warning("lost the lease of call %s; abandoning it", call_id)
                    run.lost = True
                    run.task.cancel()
            elif lease.end_requested:
                run.end_flag = True

    def _feed(self) -> None:
        if feeder.feed(self.db, self._calls, self.clock.now_ms()).created:
            self._wake.set()

    def _reap(self) -> None:
        reaper.reap(self.db, self.clock.now_ms(), on_reaped=self._hang_up_orphan if self.orphans else None)

    def _hang_up_orphan(self, call: Call) -> None:
        assert self.orphans is not None
        task: asyncio.Future[None] = asyncio.ensure_future(self.orphans(call))
        self._hanging_up.add(task)
        task.add_done_callback(self._orphan_done)

    def _orphan_done(self, task: asyncio.Future[None]) -> None:
        self._hanging_up.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("hanging up an orphaned carrier call failed", exc_info=task.exception())

    async def _retain(self) -> None:
        """Purge the webhook log in batches, yielding between them so live calls keep going."""
        assert self.config.webhook_retention_s is not None
        while True:
            try:
                before = self.clock.now_ms() - int(self.config.webhook_retention_s * 1000)
                with self.db.write() as conn:
                    purged = retention.purge_webhook_log(conn, before, _PURGE_BATCH)
            except Exception:
                log.exception("webhook log purge failed")
                purged = 0
            await asyncio.sleep(0 if purged == _PURGE_BATCH else self.config.retention_interval_s)

    async def _expire_keys(self) -> None:
        """Delete Idempotency-Keys past their 24 h in batches, yielding between them."""
        while True:
            try:
                purged = idempotency.purge_expired(self.db, self.clock.now_ms())
            except Exception:
                log.exception("idempotency key purge failed")
                purged = 0
            await asyncio.sleep(0 if purged >= idempotency.PURGE_BATCH else self.config.retention_interval_s)

    # One call ------------------------------------------------------------------------------

    async def _conduct(self, run: _Run) -> None:
        # This task's own context: every log line of the call names it and its creating request.
        logcontext.request_id.set(run.call.request_id)
        logcontext.call_id.set(run.call.id)
        try:
            outcome = await self._outcome(run)
        except asyncio.CancelledError:
            if run.lost:
                return  # someone else ended it
            outcome = Outcome(
                CallStatus.ERROR,
                DisconnectionReason.ERROR_VOXAI,
                self.clock.now_ms(),
                error_detail="the worker shut down during the call",
            )
            self._store_outcome(run, outcome)
            raise
        finally:
            if self._runs.pop(run.call.id, None) is not None:
                metrics.worker_live_calls.dec()
            self._wake.set()
        self._store_outcome(run, outcome)

    def _store_outcome(self, run: _Run, outcome: Outcome) -> None:
        try:
            try:
                self._finish(run, outcome)
            except DBAPIError as exc:
                if not exc.connection_invalidated:
                    raise
                # A pooled connection the server had dropped (a restart): SQLAlchemy has now
                # invalidated the pool. Once more on a fresh connection; the transition is fenced,
                # so it cannot apply twice. Losing the transcript here would be the worse outcome.
                self._finish(run, outcome)
        except Exception:
            # The database is unreachable: the lease will lapse and a reaper ends the call.
            log.exception("could not store the outcome of call %s (%s)", run.call.id, outcome.reason)
            metrics.engine_errors.labels("store_outcome").inc()

    async def _outcome(self, run: _Run) -> Outcome:
        try:
            return await self.conductor.conduct(run.call, self._version(run), run)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The Conductor promises not to raise for call-level failures; this is a bug.
            log.exception("call %s failed inside the worker", run.call.id)
            metrics.engine_errors.labels("call").inc()
            return Outcome(
                CallStatus.ERROR,
                DisconnectionReason.ERROR_VOXAI,
                self.clock.now_ms(),
                error_detail=f"internal error: {type(exc).__name__}",
            )

    def _version(self, run: _Run) -> AgentVersion:
        """The agent version the call is pinned to; versions are immutable, so they are cached."""
        call = run.call
        key = (call.organization_id, call.agent.agent_id, call.agent.version)

        def read() -> AgentVersion:
            with self.db.read() as conn:
                return agent_store.get_version(conn, *key)

        return self._versions.get(key, read)

    def _finish(self, run: _Run, outcome: Outcome) -> None:
        call = run.call
        now = self.clock.now_ms()
        status = outcome.status if outcome.status in _TERMINAL_OUTCOMES else CallStatus.ERROR
        answered_at = outcome.answered_at
        # Kept aside until the commit: a retry after a dropped connection (`_store_outcome`)
        # must not believe a rolled-back "answered" happened.
        answered = run.is_answered
        with self.db.write() as conn:
            if status is CallStatus.ENDED and not answered:
                # The conductor reported a connected call without the `answered` hook.
                answered_at = answered_at if answered_at is not None else outcome.ended_at
                answered = lifecycle.answered(conn, call, fence=run.attempt, at=answered_at, now=now)
            ending = Ending(
                status,
                outcome.reason,
                end_at=outcome.ended_at,
                duration_ms=lifecycle.duration_ms(call, outcome.ended_at),
                answered_at=answered_at,
                telephony_id=outcome.telephony_id,
                transcript=list(outcome.transcript),
                collected=dict(outcome.collected),
                recording_url=outcome.recording_url,
                error_detail=outcome.error_detail,
            )
            moved = lifecycle.ended(conn, call, ending, now=now, fence=run.attempt)
        run.is_answered = answered
        if not moved:
            log.warning(
                "call %s was ended elsewhere before its outcome (%s) was stored", call.id, outcome.reason
            )

    async def _shutdown(self) -> None:
        runs = [r.task for r in self._runs.values() if r.task is not None]
        if runs:
            log.info("waiting up to %.0f s for %d live calls", self.config.shutdown_grace_s, len(runs))
            _done, pending = await asyncio.wait(runs, timeout=self.config.shutdown_grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
