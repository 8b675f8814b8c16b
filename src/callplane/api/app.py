"""The FastAPI app factory."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from callplane import __version__, web
from callplane.api import admin, admin_campaigns, health, observability, openapi, operator, recordings
from callplane.api import webhooks as webhook_admin
from callplane.api.dialects import webhooks
from callplane.api.dialects.retell import batch as retell_batch
from callplane.api.dialects.retell import routes as retell
from callplane.api.dialects.vocode import routes as vocode
from callplane.api.dialects.vox import campaigns, campaigns_v2, v2, v3
from callplane.api.dialects.zudu import routes as zudu
from callplane.api.ratelimit import RateLimits
from callplane.api.services import Services
from callplane.api.telephony import twilio
from callplane.config import Settings
from callplane.engine import relay_wakeup, scrape
from callplane.engine.blobs import BlobStore
from callplane.engine.clock import Clock, SystemClock
from callplane.engine.services.calls import CallService
from callplane.engine.services.carrier import InboundDesk
from callplane.engine.services.cursors import Cursors
from callplane.engine.services.recordings import Recordings
from callplane.store.db import Database

#: Seconds a thread may hold the GIL while others wait (CPython's default is 0.005).
GIL_SWITCH_INTERVAL_S = 0.0005


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    blobs: BlobStore | None = None,
) -> FastAPI:
    """Build the app. The database must already be migrated (`callplane db upgrade`)."""
    # Handlers run in threads, so a short request shares the GIL with any long one (a 500-call
    # page rendered in Python). At CPython's default 5 ms switch interval it waits up to 5 ms to
    # get the GIL back after each database round trip; at 0.5 ms another tenant's call read while
    # such a page renders took 9.5-13.7 ms instead of 15.9-22.7 ms (tests/api/test_isolation.py,
    # loaded 2-core host), and the long page itself no longer than before.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    settings = settings or Settings()
    db = db or Database(settings.database_url)
    clock = clock or SystemClock()
    rate_limits = RateLimits.from_settings(settings)
    webhooks.register()  # this process renders webhook events in each dialect's format
    relay_wakeup.announce(db)  # the events it commits wake other processes' relays at once

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await rate_limits.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="callplane",
        version=__version__,
        description="Open-source control plane for AI phone calls, speaking several vendors' dialects.",
        # /docs is served from vendored assets (api/openapi.py); ReDoc would load from a CDN.
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=openapi.operation_id,
    )
    openapi.install(app)
    app.state.services = _services(settings, db, clock, blobs=blobs)
    app.state.rate_limits = rate_limits
    _observe(app, db, clock)
    # Vox's routers are included one by one: every level of router nesting is matched on
    # every request.
    for router in (
        health.router,
        v3.router,
        v2.router,
        campaigns.router,
        campaigns_v2.router,
        zudu.router,
        vocode.router,
        retell.router,
        retell_batch.router,
        recordings.router,
        admin.router,
        webhook_admin.router,
        admin_campaigns.router,
        operator.router,
        twilio.router,
    ):
        app.include_router(router)

    # Dashboard (issue 13): server-rendered pages under /dashboard, over the same services. -------
    web.mount(
        app,
        db=db,
        clock=clock,
        calls_service=app.state.services.calls,
        cursors=app.state.services.cursors,
        gate=rate_limits,
        allow_private_destinations=settings.allow_private_destinations,
        operator_token=settings.operator_token,
        settings=settings,
        recordings=app.state.services.recordings,
    )
    # -------------------------------------------------------------------------------------------
    return app


def _services(
    settings: Settings,
    db: Database,
    clock: Clock,
    *,
    blobs: BlobStore | None = None,
    inbound: InboundDesk | None = None,
) -> Services:
    """What every route of a process shares (the API's app and a worker's carrier app alike)."""
    cursors = Cursors(db, clock.now_ms, settings.cursor_secret)
    return Services(
        settings=settings,
        db=db,
        clock=clock,
        calls=CallService(db, clock.now_ms),
        cursors=cursors,
        recordings=Recordings.from_settings(settings, db, cursors, clock.now_ms, blobs),
        inbound=inbound,
    )


def create_carrier_app(
    settings: Settings, db: Database, inbound: InboundDesk | None, clock: Clock | None = None
) -> FastAPI:
    """Only the routes a carrier calls (status callbacks, media streams, incoming calls): what a
    `callplane worker` serves on `CALLPLANE_TELEPHONY_PORT`, so the carrier reaches the process
    that holds the call (docs/architecture.md, "Real calls")."""
    clock = clock or SystemClock()
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.services = _services(settings, db, clock, inbound=inbound)
    app.include_router(twilio.router)
    return app


# Operations (issue 14): request ids, access log, HTTP metrics, /metrics ------------------------


def _observe(app: FastAPI, db: Database, clock: Clock) -> None:
    app.state.metrics_registry = scrape.registry(db, clock.now_ms)
    app.include_router(observability.router)
    app.add_middleware(observability.RequestContext)
