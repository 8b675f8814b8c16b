"""What a request handler needs from the layers below, built once per app."""

from __future__ import annotations

from dataclasses import dataclass

from callplane.config import Settings
from callplane.engine.clock import Clock
from callplane.engine.services.calls import CallService
from callplane.engine.services.carrier import InboundDesk
from callplane.engine.services.cursors import Cursors
from callplane.engine.services.recordings import Recordings
from callplane.store.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    calls: CallService
    cursors: Cursors
    recordings: Recordings
    #: The worker in this process that answers incoming carrier calls (None: they are rejected).
    inbound: InboundDesk | None = None
