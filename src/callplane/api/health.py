"""Liveness and readiness probes (unauthenticated).

`/readyz` answers 503 when this API process cannot serve: the database is unreachable or its
schema is not the newest. It also reports the workers' health, which does not make *this*
process unready (taking API replicas out of a load balancer would not help a stuck worker):
`workers.stuck_calls` counts live calls whose lease ran out over a minute ago and that no reaper
ended (their workers are gone, and reapers are not running or are stalled), with the worker ids
that held them. Alert on it, or on `callplane_calls_stuck` in /metrics.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from callplane.api.deps import ServicesDep
from callplane.api.responses import JSON
from callplane.engine.scrape import STUCK_AFTER_MS
from callplane.store.gauges import queue_gauges
from callplane.store.migrate import is_current

router = APIRouter(tags=["Health"])


class HealthOut(BaseModel):
    status: str


class WorkersOut(BaseModel):
    status: str  #: ok | stuck
    stuck_calls: int
    stuck_workers: list[str]
    live_calls: int
    queue_due: int


class ReadyOut(BaseModel):
    status: str  #: ready, or why not (503)
    database: str | None = None
    workers: WorkersOut | None = None


@router.get("/healthz", response_model=HealthOut)
def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ReadyOut}})
def readyz(services: ServicesDep) -> JSON:
    try:
        if not is_current(services.db):
            return JSON({"status": "database schema is not at the newest revision"}, status_code=503)
        with services.db.read() as conn:
            gauges = queue_gauges(conn, services.clock.now_ms(), STUCK_AFTER_MS)
    except SQLAlchemyError:
        return JSON({"status": "database unreachable"}, status_code=503)
    workers: dict[str, Any] = {
        "status": "stuck" if gauges.stuck else "ok",
        "stuck_calls": gauges.stuck,
        "stuck_workers": gauges.stuck_owners,
        "live_calls": sum(gauges.live.values()),
        "queue_due": gauges.due,
    }
    return JSON({"status": "ready", "database": "ok", "workers": workers})
