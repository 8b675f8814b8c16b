"""Vox's error envelope: `{"error": {"code", "message", "details"}}`, also for v2 routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

from callplane.api.dialects.base import DialectRoute, field_errors, log_unexpected
from callplane.api.dialects.common import described, listed
from callplane.api.dialects.vox.schemas import ErrorOut
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


def error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSON:
    return JSON({"error": {"code": code, "message": message, "details": details or {}}}, status_code=status)


def validation_error(errors: list[FieldError]) -> JSON:
    first = errors[0]
    details: dict[str, Any] = {"field": first.field, "reason": first.reason}
    if first.allowed:
        details["allowed_values"] = list(first.allowed)
    details["errors"] = listed(errors)
    return error(400, "VALIDATION_ERROR", described(errors), details)


class VoxRoute(DialectRoute):
    dialect = "vox"
    error_model = ErrorOut

    def error_response(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            return validation_error(field_errors(exc))
        if isinstance(exc, ValidationFailed):
            return validation_error(exc.errors)
        if isinstance(exc, Unauthorized):
            return error(401, "UNAUTHORIZED", exc.message)
        if isinstance(exc, Forbidden):
            return error(403, "FORBIDDEN", exc.message)
        if isinstance(exc, TooLarge):
            return error(413, "PAYLOAD_TOO_LARGE", exc.message)
        if isinstance(exc, RateLimited):
            return error(429, "RATE_LIMITED", exc.message, {"retry_after_s": exc.retry_after_s})
        if isinstance(exc, NotFound):
            return error(404, "NOT_FOUND", exc.message)
        if isinstance(exc, IdempotencyMismatch):
            return error(422, "IDEMPOTENCY_KEY_REUSED", exc.message)
        if isinstance(exc, Conflict):
            return error(409, "CONFLICT", exc.message)
        if isinstance(exc, Unavailable):
            return error(503, "SERVICE_UNAVAILABLE", exc.message, {"retry_after_s": exc.retry_after_s})
        log_unexpected(self.dialect, request, exc)
        return error(500, "INTERNAL_ERROR", "서버 내부 오류가 발생했습니다.")
