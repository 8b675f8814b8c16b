"""Retries for a chat-completions request: 429, 5xx, timeouts and dropped connections.

A model endpoint that throttles or hiccups once should not end a phone call. Each turn (one
request for one answer) gets `RetryPolicy.budget_s` (30 s) of time in all: attempts are retried with
exponential backoff and full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"),
or after the server's `Retry-After` when it gives one, as long as the wait fits in what is left
of the budget; past it, the last failure stands and the call ends as before (`error_voxai`).
Time is the event loop's, so the engine's virtual clock drives it in tests.

Not retried: other 4xx (the request itself is wrong), a refused destination (egress guard), an
answer that is not a chat completion, and a streamed answer once any of it was spoken.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

from callplane.engine import metrics

#: Statuses worth another attempt: throttled, or the server's own failure.
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class Retryable(Exception):
    """A failed attempt that may succeed if made again; `message` is what to report if not."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4  #: attempts per turn, the first included
    #: A turn's time for all its attempts and waits. Above the 20 s attempt timeout, so that a
    #: timed-out first attempt still gets a shorter second one.
    budget_s: float = 30.0
    base_s: float = 0.5  #: the first backoff ceiling; doubled each retry
    max_wait_s: float = 8.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def wait_s(self, retry: int, retry_after_s: float | None) -> float:
        if retry_after_s is not None:
            return retry_after_s
        return self.rng.uniform(0, min(self.max_wait_s, self.base_s * 2 ** (retry - 1)))


class Turn:
    """The attempts of one turn: `await turn.failed(exc)` waits before the next attempt, or
    re-raises when no attempt or budget is left."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.loop = asyncio.get_running_loop()
        self.deadline = self.loop.time() + policy.budget_s
        self.made = 0

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - self.loop.time())

    async def failed(self, exc: Retryable) -> None:
        self.made += 1
        wait = self.policy.wait_s(self.made, exc.retry_after_s)
        if self.made >= self.policy.attempts or wait >= self.remaining_s():
            raise exc
        await asyncio.sleep(wait)


def status_failure(response: httpx.Response, message: str) -> Retryable | None:
    """The retryable failure a response is, or None when it is final."""
    if response.status_code not in RETRY_STATUSES:
        metrics.llm_errors.labels("http_4xx" if response.status_code < 500 else "http_5xx").inc()
        return None
    metrics.llm_errors.labels("http_429" if response.status_code == 429 else "http_5xx").inc()
    return Retryable(message, retry_after_s(response.headers.get("retry-after")))


def transport_failure(exc: httpx.HTTPError, message: str) -> Retryable | None:
    if isinstance(exc, httpx.TimeoutException):
        metrics.llm_errors.labels("timeout").inc()
        return Retryable(message)
    if isinstance(exc, httpx.TransportError):  # connect errors, dropped connections
        metrics.llm_errors.labels("connect").inc()
        return Retryable(message)
    metrics.llm_errors.labels("invalid").inc()
    return None


def retry_after_s(value: str | None) -> float | None:
    """`Retry-After` in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())
