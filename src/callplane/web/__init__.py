"""The dashboard: server-rendered pages (Jinja2 + htmx) over the same use cases as the APIs.

Mounted by `api.app.create_app` under `/dashboard`; its static files (htmx, the style sheet) are
served from this package, so the pages load nothing from anywhere else and work offline.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from callplane.config import Settings
from callplane.engine.clock import Clock
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.cursors import Cursors
from callplane.engine.services.recordings import Recordings
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from callplane.web import admin, analytics, auth, calls, campaigns, operator
from callplane.web.context import CredentialGate, Dashboard
from callplane.web.pages import PREFIX
from callplane.web.waveform import Waveforms

STATIC = Path(__file__).parent / "static"


def mount(
    app: FastAPI,
    *,
    db: Database,
    clock: Clock,
    calls_service: CallService,
    cursors: Cursors,
    gate: CredentialGate,
    allow_private_destinations: bool,
    operator_token: str | None = None,
    settings: Settings | None = None,
    recordings: Recordings | None = None,
) -> None:
    """Add the dashboard's routes and static files to `app`, sharing the APIs' services."""
    app.state.dashboard = Dashboard(
        db=db,
        clock=clock,
        calls=calls_service,
        cursors=cursors,
        admin=Admin(db, clock.now_ms, allow_private_destinations),
        webhooks=WebhookAdmin(db, clock.now_ms, allow_private_destinations),
        gate=gate,
        operator_token=operator_token,
        settings=settings,
        recordings=recordings,
        waveforms=Waveforms(recordings.blobs) if recordings is not None else None,
    )
    app.include_router(auth.router)
    app.include_router(calls.router)
    app.include_router(analytics.router)
    app.include_router(campaigns.router)
    app.include_router(admin.router)
    app.include_router(operator.router)
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="dashboard-static")
