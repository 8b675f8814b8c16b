"""The webhook relay: claims due deliveries from the outbox, signs them, POSTs them, records each try.

Each attempt is signed by the event's payload format (`engine/services/webhook_formats.py`): Vox
events per Standard Webhooks 1.0 (`webhook-id`, the event id, the same on every retry so
receivers can deduplicate; `webhook-timestamp`; `webhook-signature`), Retell events with
`X-Retell-Signature`. The body bytes are stored once with the event and sent unchanged on every
attempt — except what `links` renders at each claim (a `call_ended` event's `recording_url`: links
expire, so each attempt carries a fresh one; `engine/services/recordings.py`).

Delivery rules (Standard Webhooks' recommendations):
- any 2xx is delivered; anything else — 3xx included (redirects are not followed), a timeout or
  a connection error — is retried;
- 410 Gone gives up at once and disables the endpoint;
- retries follow `RETRY_SCHEDULE_S` after the first attempt (5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
  14 h, 20 h, 24 h: ten attempts over about three days), each delay with ±20 % jitter; a
  `Retry-After` on 429/503 pushes the next attempt later, never earlier; after the last one the
  delivery is `failed`;
- the response body is never read; an attempt has 15 s by default, all told.
- one call's (or campaign's) deliveries to one destination go in the order their events were
  written (the claim skips one whose earlier event there is still pending, and a retry moves
  the ones waiting behind it along: `deliveries`); an endpoint's test events are not ordered.

Destination guard: deliveries go through `engine.egress.guarded_client`, which resolves the
host, refuses internal addresses and connects to the address it vetted (no second lookup, so no
DNS-rebinding window). A refused destination fails the delivery at once with the error
"destination not allowed"; a name that does not resolve ("cannot resolve") is retried. The log
never says what an internal name resolved to. `allow_private` turns the guard off (tests, local
receivers: `CALLPLANE_ALLOW_PRIVATE_DESTINATIONS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, replace

import httpx

from callplane import __version__
from callplane.engine import egress, metrics, relay_wakeup
from callplane.engine.clock import Clock
from callplane.engine.jobs.lanes import Lanes, offload
from callplane.engine.services.webhook_formats import FORMATS, UnknownFormat
from callplane.store import deliveries, outbox
from callplane.store.db import Database
from callplane.store.deliveries import AttemptResult, DueDelivery
from callplane.store.outbox import DeliveryStatus

log = logging.getLogger(__name__)

#: Delays before attempts 2, 3, … (seconds); Standard Webhooks' suggested schedule.
RETRY_SCHEDULE_S: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
_THROTTLED = (429, 503)
_MAX_RETRY_AFTER_S = 86400


@dataclass(frozen=True, slots=True)
class RelayConfig:
    timeout_s: float = 15.0
    allow_private: bool = False  #: deliver to loopback/private addresses (tests, local setups)
    schedule_s: tuple[float, ...] = RETRY_SCHEDULE_S
    jitter: float = 0.2
    batch: int = 50
    concurrency: int = 16

    @property
    def lease_ms(self) -> int:
        # Longer than any POST can run (`attempt` holds each to `timeout_s` in all, connecting
        # and waiting for the answer together), plus room to record it: a claimed delivery is
        # never re-claimed while its POST can still run, and one a killed relay held is due
        # again soon after.
        return int((self.timeout_s + 10) * 1000)


def next_attempt_delay_s(
    attempts_made: int, schedule: tuple[float, ...], rng: random.Random, jitter: float
) -> float | None:
    """Seconds until the next attempt after `attempts_made` attempts, or None: give up."""
    if attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    return base * (1 + rng.uniform(-jitter, jitter))


class Relay:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        config: RelayConfig | None = None,
        *,
        rng: random.Random | None = None,
        client: httpx.AsyncClient | None = None,
        lanes: Lanes | None = None,
        links: Callable[[str], str] | None = None,
    ) -> None:
        self.db = db
        #: Renders a stored body's recording links for this attempt (in a lane: it may read the
        #: deployment's secret once).
        self.links = links
        self.lanes = lanes
        self.clock = clock
        self.config = config or RelayConfig()
        self._rng = rng or random.Random()
        self._client = client
        self._own_client = client is None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()

    async def aclose(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = egress.guarded_client(
                allow_private=self.config.allow_private,
                timeout=self.config.timeout_s,
                headers={"user-agent": f"callplane-webhooks/{__version__}"},
            )
        return self._client

    def wake(self) -> None:
        """Look for due deliveries now (safe from any thread): events were just committed."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def run(self, idle_s: float) -> None:
        """Deliver until cancelled: again at once after a full batch; otherwise when this
        process commits events (`outbox.on_events_committed`) or, on PostgreSQL, another one
        does (`relay_wakeup`), else every `idle_s` (an announcement missed; deliveries due for
        a retry or whose lease ran out)."""
        self._loop = asyncio.get_running_loop()
        stop_listening = outbox.on_events_committed(self.db, self.wake)
        stop_hearing = relay_wakeup.listen(self.db, self.wake)  # other processes' events
        try:
            while True:
                self._wake.clear()
                try:
                    done = await self.deliver_due()
                except Exception:
                    log.exception("webhook relay pass failed")
                    metrics.engine_errors.labels("relay").inc()
                    done = 0
                if done < self.config.batch:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), idle_s)
        finally:
            stop_listening()
            stop_hearing()

    async def deliver_due(self) -> int:
        """Deliver one batch of due deliveries; returns how many were attempted."""
        now = self.clock.now_ms()
        due = await offload(self.lanes, lambda: self._claim(now))
        if not due:
            return 0
        gate = asyncio.Semaphore(self.config.concurrency)

        async def one(delivery: DueDelivery) -> AttemptResult:
            async with gate:
                return await self.attempt(delivery)

        results = await asyncio.gather(*(one(d) for d in due))
        batch = list(zip(due, results, strict=True))
        if self.lanes is None:
            self.record(batch)
        else:
            # A blip must not lose the batch's outcomes (each would be posted again after its
            # lease); recording is fenced on the attempt number, so a repeat records nothing twice.
            lanes = self.lanes
            await lanes.retrying(lambda: lanes.run(lambda: self.record(batch)), "recording webhook attempts")
        return len(due)

    def _claim(self, now: int) -> list[DueDelivery]:
        with self.db.read() as conn:
            if not deliveries.deliveries_due(conn, now):
                return []
        with self.db.write() as conn:
            claimed = deliveries.claim_deliveries(conn, now, self.config.lease_ms, self.config.batch)
        links = self.links
        return claimed if links is None else [replace(d, body=links(d.body)) for d in claimed]

    async def attempt(self, delivery: DueDelivery) -> AttemptResult:
        """One POST of one delivery (or the reason not to make it); records nothing."""
        now = self.clock.now_ms()
        if delivery.secret is None or not delivery.enabled:
            why = "endpoint removed" if delivery.secret is None else "endpoint disabled"
            return AttemptResult(now, 0, None, why, DeliveryStatus.FAILED)
        try:
            signature = FORMATS.get(delivery.format).sign(
                delivery.secret, delivery.event_id, now, delivery.body
            )
        except UnknownFormat as exc:
            # A process started without the dialects' formats: retried, so one that has them sends it.
            return self._retry(delivery, now, 0, None, str(exc), None)
        headers = {"content-type": "application/json", **signature}
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            # httpx's timeout bounds each phase (connect, write, read); this bounds them together.
            async with (
                asyncio.timeout(self.config.timeout_s),
                self._http().stream(
                    "POST", delivery.url, content=delivery.body.encode(), headers=headers
                ) as response,
            ):
                status = response.status_code
                retry_after = response.headers.get("retry-after")
        except TimeoutError:
            elapsed = int((loop.time() - started) * 1000)
            return self._retry(
                delivery, now, elapsed, None, f"timed out after {self.config.timeout_s:g} s", None
            )
        except egress.DestinationRefused as exc:
            if str(exc) == egress.NOT_ALLOWED:
                return AttemptResult(now, 0, None, egress.NOT_ALLOWED, DeliveryStatus.FAILED)
            return self._retry(delivery, now, 0, None, str(exc), None)
        except httpx.HTTPError as exc:
            elapsed = int((loop.time() - started) * 1000)
            return self._retry(delivery, now, elapsed, None, f"{type(exc).__name__}: {exc}"[:500], None)
        elapsed = int((loop.time() - started) * 1000)
        if 200 <= status < 300:
            return AttemptResult(now, elapsed, status, None, DeliveryStatus.DELIVERED)
        if status == 410:
            return AttemptResult(now, elapsed, status, "410 Gone: endpoint disabled", DeliveryStatus.FAILED)
        hint = _retry_after_s(retry_after) if status in _THROTTLED else None
        return self._retry(delivery, now, elapsed, status, f"HTTP {status}", hint)

    def _retry(
        self,
        delivery: DueDelivery,
        now: int,
        elapsed_ms: int,
        status: int | None,
        error: str,
        retry_after_s: float | None,
    ) -> AttemptResult:
        delay = next_attempt_delay_s(
            delivery.attempts + 1, self.config.schedule_s, self._rng, self.config.jitter
        )
        if delay is None:
            return AttemptResult(now, elapsed_ms, status, error, DeliveryStatus.FAILED)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return AttemptResult(now, elapsed_ms, status, error, DeliveryStatus.PENDING, now + int(delay * 1000))

    def record(self, batch: list[tuple[DueDelivery, AttemptResult]]) -> None:
        """Record a batch of attempts in one transaction."""
        with self.db.write() as conn:
            for delivery, result in batch:
                recorded = deliveries.record_attempt(conn, delivery, result)
                if recorded and result.status_code == 410 and delivery.endpoint_id is not None:
                    outbox.disable_endpoint(
                        conn, delivery.organization_id, delivery.endpoint_id, "the receiver answered 410 Gone"
                    )
        for delivery, result in batch:
            _observe(delivery, result)
            if result.outcome is not DeliveryStatus.DELIVERED:
                log.info(
                    "webhook %s to %s attempt %d: %s (%s)",
                    delivery.event_id,
                    delivery.url,
                    delivery.attempts + 1,
                    result.error,
                    result.outcome.value,
                )


def _observe(delivery: DueDelivery, result: AttemptResult) -> None:
    outcome = "retry" if result.outcome is DeliveryStatus.PENDING else result.outcome.value
    metrics.webhook_attempts.labels(outcome).inc()
    if delivery.due_at is not None:
        attempt = "first" if delivery.attempts == 0 else "retry"
        metrics.webhook_lag.labels(attempt).observe(max(0, result.at - delivery.due_at) / 1000)


def _retry_after_s(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # HTTP-date form: ignored, the schedule applies
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)
