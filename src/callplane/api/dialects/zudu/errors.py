"""Zudu's error envelope: `{"message", "status": "error", "error": "<what went wrong>", "data"}`.

400 "Validation error" (with the field-level list in `data.errors`, a callplane addition),
401 "Unauthorized", 404 "Call not found" with `Call with ID '…' does not exist`, 409 for a call
that cannot change any more or a reused Idempotency-Key, 500 "Internal server error".
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from callplane.api.dialects.base import DialectRoute, log_unexpected
from callplane.api.dialects.common import described, listed, request_errors
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


def error(status: int, message: str, error: str, data: Any = None) -> JSON:
    return JSON({"message": message, "status": "error", "error": error, "data": data}, status_code=status)


def validation_error(errors: list[FieldError]) -> JSON:
    return error(400, "Validation error", described(errors), {"errors": listed(errors)})


class Envelope(BaseModel):
    message: str
    status: str
    error: str | None
    data: Any


class ZuduRoute(DialectRoute):
    dialect = "zudu"
    error_model = Envelope

    def error_response(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            return validation_error(request_errors(exc))
        if isinstance(exc, ValidationFailed):
            return validation_error(exc.errors)
        if isinstance(exc, Unauthorized):
            return error(401, "Unauthorized", exc.message)
        if isinstance(exc, Forbidden):
            return error(403, "Forbidden", exc.message)
        if isinstance(exc, TooLarge):
            return error(413, "Payload too large", exc.message)
        if isinstance(exc, RateLimited):
            return error(429, "Too many requests", exc.message)
        if isinstance(exc, NotFound):
            call_id = request.path_params.get("call_id", "")
            return error(404, "Call not found", f"Call with ID '{call_id}' does not exist")
        if isinstance(exc, (Conflict, IdempotencyMismatch)):
            return error(409, "Conflict", exc.message)
        if isinstance(exc, Unavailable):
            return error(503, "Service unavailable", exc.message)
        log_unexpected(self.dialect, request, exc)
        return error(500, "Internal server error", "An unexpected error occurred")
