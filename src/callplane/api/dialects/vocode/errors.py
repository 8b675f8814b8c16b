"""Vocode's errors: FastAPI's own shapes, since Vocode's hosted API is a FastAPI app.

Invalid input is `422 {"detail": [{"type", "loc", "msg", ...}]}` — the shape the `vocode-api`
SDK parses into `UnprocessableEntityError`, so every 422 here must keep it (a reused
Idempotency-Key included). Other failures are `{"detail": "<message>"}`: 401, 404 "Call not
found", 409, 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from callplane.api.dialects.base import DialectRoute, log_unexpected
from callplane.api.responses import JSON
from callplane.domain.errors import (
    Conflict,
    FieldError,
    Forbidden,
    IdempotencyMismatch,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
    ValidationFailed,
)

_INT64 = range(-(2**63), 2**63)


def _encodable(value: Any) -> Any:
    """FastAPI echoes the offending `input`; JSON numbers past 64 bits are echoed as text."""
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return str(value)
    if isinstance(value, dict):
        return {k: _encodable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    return value


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> JSON:
    return JSON({"detail": message}, status_code=status, headers=headers)


def _loc(root: str, field: str) -> list[str | int]:
    out: list[str | int] = [root]
    for part in field.replace("]", "").replace("[", ".").split("."):
        if part:
            out.append(int(part) if part.isdecimal() else part)
    return out


def unprocessable(errors: list[FieldError], root: str, kind: str = "value_error") -> JSON:
    items: list[dict[str, Any]] = []
    for e in errors:
        item: dict[str, Any] = {"type": kind, "loc": _loc(root, e.field), "msg": e.reason}
        if e.allowed:
            item["ctx"] = {"allowed": list(e.allowed)}
        items.append(item)
    return JSON({"detail": items}, status_code=422)


class Detail(BaseModel):
    detail: Any


class VocodeRoute(DialectRoute):
    dialect = "vocode"
    error_model = Detail

    def unreadable_body(self, request: Request, exc: HTTPException) -> Response:
        # What FastAPI itself answers: `400 {"detail": "There was an error parsing the body"}`.
        return detail(exc.status_code, str(exc.detail))

    def error_response(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            # FastAPI's default answer, byte for byte in shape.
            return JSON({"detail": _encodable(jsonable_encoder(exc.errors()))}, status_code=422)
        root = "body" if request.method == "POST" and request.url.path.endswith("/create") else "query"
        if isinstance(exc, ValidationFailed):
            return unprocessable(exc.errors, root)
        if isinstance(exc, IdempotencyMismatch):
            return unprocessable(
                [FieldError("Idempotency-Key", exc.message)], "header", kind="idempotency_key_reused"
            )
        if isinstance(exc, Unauthorized):
            return detail(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
        if isinstance(exc, Forbidden):
            return detail(403, exc.message)
        if isinstance(exc, TooLarge):
            return detail(413, exc.message)
        if isinstance(exc, RateLimited):
            return detail(429, exc.message)
        if isinstance(exc, NotFound):
            return detail(404, "Call not found")
        if isinstance(exc, Conflict):
            return detail(409, exc.message)
        if isinstance(exc, Unavailable):
            return detail(503, exc.message)
        log_unexpected(self.dialect, request, exc)
        return detail(500, "Internal Server Error")
