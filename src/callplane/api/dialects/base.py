"""What every dialect shares: a route class that renders all failures in the dialect's shape."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from callplane.api.unavailable import as_unavailable
from callplane.domain.errors import FieldError, TooLarge, ValidationFailed

log = logging.getLogger(__name__)

#: Error statuses any authenticated route may answer (422: Vox's idempotency-key reuse).
ERROR_STATUSES: dict[int | str, str] = {
    400: "Invalid input, naming the field",
    401: "Missing or invalid credentials",
    403: "The credential lacks the scope this needs",
    404: "Not found (another organisation's anything is not found too)",
    409: "Conflicts with the current state",
    422: "Idempotency key reused with another body",
    429: "Rate limited (Retry-After says when to try again)",
    503: "The database is unreachable for a moment (Retry-After says when to try again)",
}

#: Why a field a request model does not declare is refused: it is never silently dropped.
UNKNOWN_FIELD = "is not a field of this request (misspelled or unsupported)"


class DialectRoute(APIRoute):
    """An APIRoute whose every exception — validation, domain or bug — becomes a dialect error.

    Subclasses implement `error_response`; an exception it does not know is logged and answered
    as the dialect's internal error, never with a stack trace.
    """

    dialect: ClassVar[str] = "?"
    #: The dialect's error body, declared for every error status of every route that does not
    #: name its own (`api/openapi.py`); None: the routes declare theirs.
    error_model: ClassVar[type[BaseModel] | None] = None

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if self.error_model is not None:
            declared = dict(kwargs.get("responses") or {})
            for status, description in ERROR_STATUSES.items():
                declared.setdefault(status, {"model": self.error_model, "description": description})
            kwargs["responses"] = declared
        super().__init__(path, endpoint, **kwargs)

    def error_response(self, request: Request, exc: Exception) -> Response:
        raise NotImplementedError

    def unreadable_body(self, request: Request, exc: HTTPException) -> Response:
        """FastAPI could not even read the body (bytes that are no text, e.g. a UTF-16 BOM).

        It raises an HTTPException for that, which is neither a validation error nor a bug:
        answered as invalid input in the dialect's shape.
        """
        return self.error_response(request, ValidationFailed.single("body", "could not be read as JSON text"))

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                await reject_unstorable(request)
                return await original(request)
            except HTTPException as exc:
                if 400 <= exc.status_code < 500:
                    return self.unreadable_body(request, exc)
                return self.error_response(request, exc)
            except Exception as exc:
                unavailable = as_unavailable(exc)
                if unavailable is not None:
                    # The store already retried what it safely could: the database is still
                    # away, which the client can wait out — not a bug (500).
                    log.warning("%s %s: database unavailable (%s)", request.method, request.url.path, exc)
                    exc = unavailable
                response = self.error_response(request, exc)
                # An error that carries headers (Retry-After and RateLimit on a 429) keeps them
                # whatever the dialect's body shape.
                response.headers.update(getattr(exc, "headers", None) or {})
                return response

        return handler


_INT64 = range(-(2**63), 2**63)


def _unstorable(data: Any) -> str | None:
    """Why a parsed JSON body cannot be stored or answered, or None.

    PostgreSQL rejects text holding U+0000; neither database nor the UTF-8 JSON writer takes a
    lone surrogate (`"\\ud800"`); the JSON writer takes no integer past 64 bits. Every
    dialect would fail on these deep inside a query or a render, so they are refused here.
    """
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "must not contain NUL characters (\\u0000)"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "must not contain unpaired surrogate escapes (\\ud800–\\udfff)"
        elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
            return "must not contain integers beyond 64 bits"
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None


async def read_body(request: Request, cap: int) -> bytes:
    """The request body, refused with TooLarge (413) past `cap` bytes before more is read.

    A declared Content-Length past the cap is refused without reading anything; a chunked or
    lying body is counted as it arrives and dropped at the first chunk past the cap.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and (len(declared) > 18 or int(declared) > cap):
        raise TooLarge(f"the request body is larger than {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise TooLarge(f"the request body is larger than {cap} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    # Where Starlette caches what `request.body()` read: the handler parses these same bytes.
    request._body = body
    return body


async def reject_unstorable(request: Request) -> None:
    """Refuse input no dialect could store or answer (see `_unstorable`) with a clear 4xx,
    and a body past `CALLPLANE_MAX_BODY_BYTES` with a 413."""
    if b"%00" in request.scope.get("query_string", b""):
        raise ValidationFailed.single("query", "must not contain NUL characters (%00)")
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = await read_body(request, request.app.state.services.settings.max_body_bytes)
    if not body:
        return
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: the handler's own parsing answers that, in the dialect's shape
    problem = _unstorable(data)
    if problem is not None:
        raise ValidationFailed.single("body", problem)
    # Where Starlette caches what `request.json()` parsed: FastAPI validates the body from it,
    # so the bytes are parsed once, not twice.
    request._json = data


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
        if kind == "extra_forbidden":
            out.append(FieldError(name, UNKNOWN_FIELD))
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
