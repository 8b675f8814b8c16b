"""Errors the core raises, in no vendor's shape. Each dialect renders them in its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One invalid input: where it is, what is wrong and, for vocabularies, what is allowed."""

    field: str
    reason: str
    allowed: Sequence[str] | None = None

    def describe(self) -> str:
        text = f"{self.field}: {self.reason}"
        if self.allowed:
            text += f" (allowed: {', '.join(self.allowed)})"
        return text


class DomainError(Exception):
    """Base of every expected failure; anything else is a bug and answers 500."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("ValidationFailed needs at least one FieldError")
        self.errors = list(errors)
        super().__init__("; ".join(e.describe() for e in self.errors))

    @classmethod
    def single(cls, field: str, reason: str, allowed: Sequence[str] | None = None) -> ValidationFailed:
        return cls([FieldError(field, reason, allowed)])


class NotFound(DomainError):
    """The object does not exist *for this organisation* (another organisation's id included)."""


class Unauthorized(DomainError):
    """Missing, unknown or revoked credentials."""


class IdempotencyMismatch(DomainError):
    """An Idempotency-Key reused with a different request body."""


class Conflict(DomainError):
    """The request conflicts with the object's current state (e.g. canceling an ended call)."""


class Forbidden(DomainError):
    """The credential is valid but lacks the scope (or the principal kind) this action needs."""


class TooLarge(DomainError):
    """The request is larger than callplane accepts (body bytes, list sizes past their cap)."""


class RateLimited(DomainError):
    """Too many requests for one key, organisation or source address; retry after `retry_after_s`.

    `headers` are sent with the error whatever the dialect: `Retry-After` and the IETF
    `RateLimit-Policy` / `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers).
    """

    def __init__(self, message: str, retry_after_s: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)
        self.headers = {"Retry-After": str(self.retry_after_s), **(headers or {})}


class Unavailable(DomainError):
    """The database could not be reached, or kept refusing the work, even after retries (a
    restart, terminated backends): nothing was committed, so the client may send the request
    again after `retry_after_s` — with the same Idempotency-Key it cannot create anything twice.

    Answered 503 with `Retry-After` in every dialect's error shape, never as an internal error.
    """

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = max(1, retry_after_s)
        self.headers = {"Retry-After": str(self.retry_after_s)}
