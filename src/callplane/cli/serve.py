"""`callplane serve`: migrate, bootstrap the demo on an empty database, run the API (and, unless
`CALLPLANE_EMBEDDED_WORKER=false`, one worker on its own thread)."""

from __future__ import annotations

import logging

import uvicorn

from callplane.api.app import create_app
from callplane.cli.context import Context, console
from callplane.cli.demo import Demo, bootstrap, curl_example
from callplane.store.migrate import upgrade


def run(c: Context, *, host: str | None, port: int | None) -> None:
    settings = c.settings
    host = host or settings.host
    port = port or settings.port
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
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
    try:
        uvicorn.run(app, host=host, port=port, log_level=settings.log_level.lower())
    finally:
        if embedded is not None:
            embedded.stop(timeout_s=settings.worker_shutdown_grace_s + 5)


def _announce(demo: Demo, base_url: str) -> None:
    # Plain print for anything meant to be copied: rich would wrap long lines.
    console.rule("callplane demo organization created")
    print(f"organization: {demo.organization_id}")
    print(f"API key (Authorization: Bearer …, shown once): {demo.api_key.key}")
    print(f"X-API-KEY:    {demo.key_pair.key}")
    print(f"X-API-SECRET: {demo.key_pair.secret}")
    print()
    print("Create a call (seed 001's example):")
    print(curl_example(base_url, demo.api_key.key))
    print()
    console.rule()
