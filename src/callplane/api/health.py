"""Liveness and readiness probes (unauthenticated)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from callplane.api.deps import ServicesDep
from callplane.api.responses import JSON
from callplane.store.migrate import is_current

router = APIRouter(tags=["Health"])


@router.get("/healthz")
def healthz() -> JSON:
    return JSON({"status": "ok"})


@router.get("/readyz")
def readyz(services: ServicesDep) -> JSON:
    try:
        migrated = is_current(services.db)
    except SQLAlchemyError:
        return JSON({"status": "database unreachable"}, status_code=503)
    if not migrated:
        return JSON({"status": "database schema is not at the newest revision"}, status_code=503)
    return JSON({"status": "ready"})
