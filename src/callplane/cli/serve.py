"""`callplane serve`: migrate, bootstrap the demo on an empty database, run the API (and, unless
`CALLPLANE_EMBEDDED_WORKER=false`, one worker on its own thread).

Stopping (SIGTERM or SIGINT): the API stops taking requests, then the embedded worker stops
claiming and lets its live calls finish (up to `CALLPLANE_WORKER_SHUTDOWN_GRACE_S`), and the
process exits 0. Further signals during that drain are logged and do not cut the calls short
(an orchestrator that cannot wait sends SIGKILL; the reaper then ends the calls).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

import uvicorn

from callplane.api.app import create_app
from callplane.cli import logs
from callplane.cli.context import Context, console
from callplane.cli.demo import Demo, bootstrap, curl_example
from callplane.store.migrate import upgrade

log = logging.getLogger(__name__)


def run(c: Context, *, host: str | None, port: int | None) -> None:
    settings = c.settings
    host = host or settings.host
    port = port or settings.port
    logs.configure(settings)
    upgrade(c.db)
    demo = bootstrap(c.admin, settings)
    if demo is not None:
        _announce(demo, f"http://{host}:{port}")
    app = create_app(settings, db=c.db)
    embedded = None
    if settings.embedded_worker:
        from callplane.cli.worker import EmbeddedWorker

        embedded = EmbeddedWorker(c.db, settings)
        embedded.start()
        app.state.services.calls.on_created = embedded.wake
        app.state.services.calls.on_end_requested = embedded.request_end
        app.state.services.inbound = embedded.inbound_desk()
    # uvicorn's own loggers go through our root handler (log_config=None: same format, JSON
    # included); its access log is replaced by ours (api/observability.py), which has the
    # request id and the route template.
    config = uvicorn.Config(
        app, host=host, port=port, log_level=settings.log_level.lower(), log_config=None, access_log=False
    )
    try:
        _Server(config).run()
    finally:
        if embedded is not None:
            with _signals_while_draining():
                embedded.stop(timeout_s=settings.worker_shutdown_grace_s + 5)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn, minus one habit: after its own graceful shutdown it re-raises the signal it caught
    so that the default handler kills the process. That killed `serve` before its worker could
    drain (live calls were left to the reaper as errors). Here the signal only starts the
    shutdown; `run` returns and the caller drains the worker, then exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach only the main thread; nothing to capture
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_while_draining() -> Iterator[None]:
    def note(signum: int, _frame: object) -> None:
        log.warning("%s received: still waiting for live calls to finish", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, note) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _announce(demo: Demo, base_url: str) -> None:
    # Plain print for anything meant to be copied: rich would wrap long lines.
    console().rule("callplane demo organization created")
    print(f"organization: {demo.organization_id}")
    print(f"API key (Authorization: Bearer …, shown once): {demo.api_key.key}")
    print(f"X-API-KEY:    {demo.key_pair.key}")
    print(f"X-API-SECRET: {demo.key_pair.secret}")
    print()
    print("Create a call (seed 001's example):")
    print(curl_example(base_url, demo.api_key.key))
    print()
    console().rule()
