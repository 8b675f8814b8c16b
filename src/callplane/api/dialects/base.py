"""What every dialect shares: a route class that renders all failures in the dialect's shape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from callplane.domain.errors import FieldError

log = logging.getLogger(__name__)


class DialectRoute(APIRoute):
    """An APIRoute whose every exception — validation, domain or bug — becomes a dialect error.

    Subclasses implement `error_response`; an exception it does not know is logged and answered
    as the dialect's internal error, never with a stack trace.
    """

    dialect: ClassVar[str] = "?"

    def error_response(self, request: Request, exc: Exception) -> Response:
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except Exception as exc:
                return self.error_response(request, exc)

        return handler


def field_errors(exc: RequestValidationError) -> list[FieldError]:
    """Pydantic's error list as FieldErrors named the way a client wrote the field."""
    out = []
    for error in exc.errors():
        loc = [part for part in error.get("loc", ()) if part not in ("body", "query", "header", "path")]
        name = ""
        for part in loc:
            if isinstance(part, int):
                name += f"[{part}]"
            elif name:
                name += f".{part}"
            else:
                name = str(part)
        kind = error.get("type", "")
        if kind == "json_invalid":
            out.append(FieldError("body", "is not valid JSON"))
            continue
        if kind == "model_attributes_type" or (not name and kind.endswith("_type")):
            out.append(FieldError(name or "body", "must be a JSON object"))
            continue
        allowed = None
        expected = (error.get("ctx") or {}).get("expected")
        if isinstance(expected, str) and "'" in expected:
            allowed = [
                part.strip(" '") for part in expected.replace(" or ", ",").split(",") if part.strip(" '")
            ]
        out.append(FieldError(name or "body", error.get("msg", "is invalid").lower(), allowed))
    return out or [FieldError("body", "is invalid")]


def log_unexpected(dialect: str, request: Request, exc: Exception) -> None:
    log.error("%s %s %s failed", dialect, request.method, request.url.path, exc_info=exc)
