"""The FastAPI app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from callplane import __version__, web
from callplane.api import admin, health, operator
from callplane.api.dialects import retell, vocode, vox, zudu
from callplane.api.ratelimit import RateLimits
from callplane.api.services import Services
from callplane.config import Settings
from callplane.engine.clock import Clock, SystemClock
from callplane.engine.cursors import Cursors
from callplane.engine.service import CallService
from callplane.store.db import Database


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """Build the app. The database must already be migrated (`callplane db upgrade`)."""
    settings = settings or Settings()
    db = db or Database(settings.database_url)
    clock = clock or SystemClock()
    rate_limits = RateLimits.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await rate_limits.aclose()

    app = FastAPI(
        lifespan=lifespan,
        title="callplane",
        version=__version__,
        description="Open-source control plane for AI phone calls, speaking several vendors' dialects.",
    )
    app.state.services = Services(
        settings=settings,
        db=db,
        clock=clock,
        calls=CallService(db, clock.now_ms),
        cursors=Cursors(db, clock.now_ms, settings.cursor_secret),
    )
    app.state.rate_limits = rate_limits
    for router in (
        health.router,
        *vox.routers,
        zudu.router,
        vocode.router,
        retell.router,
        admin.router,
        operator.router,
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
    )
    # -------------------------------------------------------------------------------------------
    return app
