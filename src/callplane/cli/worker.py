"""Running workers: `callplane worker` (a process of its own) and the one `serve` embeds.

A worker needs nothing but the database: start as many `callplane worker` processes as the
load needs, on as many machines, against one PostgreSQL database (SQLite has one writer, so one
machine). `serve` runs one worker in a thread with its own event loop, so a busy worker never
stalls the API, and wakes it the moment the API creates a call.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import threading

from callplane.cli import logs
from callplane.cli.context import Context, EarlyStop, console
from callplane.config import Settings
from callplane.engine import blobs, relay_wakeup
from callplane.engine.clock import SystemClock
from callplane.engine.jobs.analysis import build_analyser
from callplane.engine.jobs.worker import Worker, WorkerConfig
from callplane.engine.live.conductor import Runtimes, build_conductor
from callplane.engine.live.telephony.registry import Carriers
from callplane.engine.services import carrier, recordings
from callplane.engine.services.carrier import InboundDesk
from callplane.engine.services.cursors import Cursors
from callplane.engine.services.recordings import Recordings
from callplane.store.db import Database
from callplane.store.migrate import upgrade

log = logging.getLogger(__name__)


def build_worker(db: Database, settings: Settings) -> Worker:
    relay_wakeup.announce(db)  # the events it commits wake other processes' relays at once
    clock = SystemClock()
    runtimes = Runtimes(settings)
    carriers = Carriers(settings, clock, carrier.line_of(db))
    store = blobs.from_settings(settings)
    links = Recordings.from_settings(
        settings, db, Cursors(db, clock.now_ms, settings.cursor_secret), clock.now_ms, store
    )
    return Worker(
        db,
        build_conductor(settings, clock, runtimes, carriers),
        clock=clock,
        analyser=build_analyser(settings),
        config=WorkerConfig.from_settings(settings),
        closers=[runtimes.close, carriers.aclose],
        blobs=store,
        orphans=lambda call: carriers.hang_up_orphan(call.from_number or "", call.telephony_id or ""),
        recording_links=functools.partial(links.fill_links, recordings.public_base(settings)),
    )


def run(c: Context, early: EarlyStop) -> None:
    """`callplane worker`: migrate, then run one worker until SIGINT/SIGTERM (exit 0 either way,
    also when the signal came while it was starting)."""
    settings = c.settings
    logs.configure(settings)
    upgrade(c.db)
    if early.requested:
        log.info("asked to stop while starting; stopped before claiming anything")
        return
    if settings.metrics_port is not None:
        _serve_metrics(c.db, settings.metrics_port)

    async def main() -> None:
        worker = build_worker(c.db, settings)
        if settings.telephony_port is not None:
            _serve_carrier(c.db, settings, worker)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, worker.stop)
        if early.requested:  # came while the worker was being built
            worker.stop()
        console().print(f"worker {worker.id} running against {c.db.dialect}; Ctrl-C stops it")
        await worker.run()

    asyncio.run(main())


def inbound_desk(worker: Worker) -> InboundDesk:
    """Incoming carrier calls reach this worker's process, so this worker answers them."""
    return InboundDesk(worker.id, int(worker.config.lease_s * 1000), worker.adopt)


def _serve_carrier(db: Database, settings: Settings, worker: Worker) -> None:
    """The carrier's routes on a daemon thread: callbacks and media streams of the calls this
    worker dials, and incoming calls it answers, all reach this process."""
    import uvicorn

    from callplane.api.app import create_carrier_app

    app = create_carrier_app(settings, db, inbound_desk(worker))
    config = uvicorn.Config(
        app, host=settings.host, port=settings.telephony_port or 0, log_config=None, access_log=False
    )
    threading.Thread(target=uvicorn.Server(config).run, name="callplane-carrier", daemon=True).start()
    log.info("carrier routes on port %s, reached at %s", settings.telephony_port, settings.public_url)


def _serve_metrics(db: Database, port: int) -> None:
    """Prometheus' own HTTP server, on a daemon thread: GET /metrics (any path) on all addresses."""
    from prometheus_client import start_http_server

    from callplane.engine import scrape

    start_http_server(port, registry=scrape.registry(db, SystemClock().now_ms))
    log.info("metrics on port %d", port)


class EmbeddedWorker:
    """One worker on its own thread and event loop, inside the API process."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.worker = build_worker(db, settings)
        self._thread = threading.Thread(target=self._main, name="callplane-worker", daemon=True)
        self._started = threading.Event()

    def start(self) -> None:
        self._thread.start()
        self._started.wait(timeout=10)

    def _main(self) -> None:
        async def main() -> None:
            task = asyncio.create_task(self.worker.run())
            await asyncio.sleep(0)  # let run() bind the loop before anyone wakes or stops it
            self._started.set()
            await task

        try:
            asyncio.run(main())
        except Exception:
            log.exception("the embedded worker stopped")

    def wake(self) -> None:
        self.worker.wake()

    def request_end(self, call_id: str) -> None:
        self.worker.request_end(call_id)

    def inbound_desk(self) -> InboundDesk:
        return inbound_desk(self.worker)

    def stop(self, timeout_s: float) -> None:
        self.worker.stop()
        self._thread.join(timeout_s)
