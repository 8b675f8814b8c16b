"""Retell's error body: `{"status": "error", "message": "..."}` (its OpenAPI `responses`).

Status codes are the ones Retell documents for its call endpoints: 400 bad input (and a stop of
a call that already finished), 401, 422 "Cannot find requested asset under given api key." for
an unknown call (Retell answers 422, not 404), 500. callplane adds `errors` — the field-level
list — to 400 bodies; Retell's schema allows extra keys and its SDK keeps the whole body.
"""

from __future__ import annotations

from typing import Literal

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

NOT_FOUND = "Cannot find requested asset under given api key."


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSON:
    return JSON({"status": "error", "message": message}, status_code=status, headers=headers)


def bad_request(errors: list[FieldError]) -> JSON:
    body = {"status": "error", "message": described(errors), "errors": listed(errors)}
    return JSON(body, status_code=400)


class ErrorOut(BaseModel):
    status: Literal["error"]
    message: str


class RetellRoute(DialectRoute):
    dialect = "retell"
    error_model = ErrorOut

    def error_response(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            return bad_request(request_errors(exc))
        if isinstance(exc, ValidationFailed):
            return bad_request(exc.errors)
        if isinstance(exc, Unauthorized):
            return error(401, "API key is missing or invalid.", {"WWW-Authenticate": "Bearer"})
        if isinstance(exc, Forbidden):
            return error(403, exc.message)
        if isinstance(exc, TooLarge):
            return error(413, exc.message)
        if isinstance(exc, RateLimited):
            # The SDK honours Retry-After on a 429 (set by the route for every dialect).
            return error(429, exc.message)
        if isinstance(exc, NotFound):
            return error(422, NOT_FOUND)
        if isinstance(exc, (Conflict, IdempotencyMismatch)):
            # 400, not 409: Retell documents no 409, and its SDK retries a 409 by default.
            return error(400, exc.message)
        if isinstance(exc, Unavailable):
            # The SDK retries a 503 after Retry-After: nothing was committed, so that is safe.
            return error(503, exc.message)
        log_unexpected(self.dialect, request, exc)
        # The SDK retries 5xx unless told not to; a bug will not go away on retry.
        return error(500, "An unexpected server error occurred.", {"x-should-retry": "false"})
