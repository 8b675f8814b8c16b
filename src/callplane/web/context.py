"""What the dashboard's handlers need from the layers below, built once per app.

The dashboard is a client of the same use cases as the APIs: `CallService` for calls (its
`list` is the one `CallQuery` path), `Admin` and `WebhookAdmin` for the organisation's data.
It never imports `api/`: the app hands it what it shares with the APIs (the rate limiter, the
cursor signer) when it mounts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request

from callplane.config import Settings
from callplane.engine.clock import Clock
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService
from callplane.engine.services.cursors import Cursors
from callplane.engine.services.recordings import Recordings
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store.db import Database
from callplane.web.waveform import Waveforms


class CredentialGate(Protocol):
    """The APIs' rate limiter, as far as signing in needs it (`api.ratelimit.RateLimits`):
    wrong keys typed into the sign-in form count against the same per-address allowance as
    wrong keys sent to the APIs, so the form is no cheaper way to guess keys."""

    async def before_credentials(self, request: Request) -> None: ...

    async def credential_failed(self, request: Request) -> None: ...

    async def admit(self, credential_id: str, organization_id: str) -> None: ...


@dataclass
class Dashboard:
    db: Database
    clock: Clock
    calls: CallService
    cursors: Cursors
    admin: Admin
    webhooks: WebhookAdmin
    gate: CredentialGate
    #: `CALLPLANE_OPERATOR_TOKEN`: signing in with it opens the operator's view; None: no such view.
    operator_token: str | None = None
    #: The deployment's settings, for rehearsing an agent on the simulated line.
    settings: Settings | None = None
    #: Mints the call page's signed recording link; None: no player.
    recordings: Recordings | None = None
    #: The player's waveforms, read through the recordings' blob store; None: no player.
    waveforms: Waveforms | None = None


def dashboard_of(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard
    return dashboard
