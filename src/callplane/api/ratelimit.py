"""Request rate limits: per API key, per organisation, and wrong credentials per source address.

Counted with the `limits` library's sliding-window counter (two counters per window: accurate to
a few percent at a window boundary, constant memory per key — a moving window would keep one
timestamp per request). Storage is process memory by default; with `CALLPLANE_REDIS_URL` set the
counters live in Redis, so several API processes share them (the redis-py asyncio client: no
thread hop on the event loop).

Limits (settings, in the `limits` notation, `;` between windows):

- `CALLPLANE_RATE_LIMIT_PER_KEY` (`50/second;1000/minute`): one key may burst to 50 a second
  and sustain ~17 a second. A burst of hundreds of requests in a few seconds from one key gets
  429s; other keys are unaffected.
- `CALLPLANE_RATE_LIMIT_PER_ORGANIZATION` (`100/second;3000/minute`): higher than one key's, so
  an organisation running a few services on separate keys is not throttled by one of them, yet
  no tenant can use more than a small share of a server (bench/RESULTS.md: a 2-core host serves
  on the order of a thousand API requests a second).
- `CALLPLANE_RATE_LIMIT_AUTH_FAILURES` (`10/minute`): wrong credentials per source address.
  Past it, every attempt from that address (right or wrong) is a 429 *before* any database
  lookup, until the window slides on. The source is the connection's peer address — uvicorn
  replaces it with `X-Forwarded-For` only for trusted proxies (`--forwarded-allow-ips`).

A 429 is `domain.errors.RateLimited`, rendered in each dialect's own error shape, with
`Retry-After` (seconds) and the fields of the IETF draft *RateLimit header fields for HTTP*
(draft-ietf-httpapi-ratelimit-headers-10, the structured-field form):
`RateLimit-Policy: "key-1s";q=50;w=1, "key-60s";q=1000;w=60` lists the policies that apply and
`RateLimit: "key-1s";r=0;t=1` says which one was exhausted, what remains and when it frees up.
Successful responses carry no rate-limit fields.

The limiter is never a source of failure: when its storage (Redis) cannot be reached, requests
are let through (fail open) and a warning is logged at most once a minute. Refusing every
request because the counter store is down would turn a Redis outage into a full API outage.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio import BlockingConnectionPool
from starlette.requests import Request

from callplane.config import Settings
from callplane.domain.errors import RateLimited

log = logging.getLogger(__name__)

_WARN_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Policy:
    """One named set of windows (`key`, `organization`, `auth`)."""

    name: str
    items: tuple[RateLimitItem, ...]

    @classmethod
    def parse(cls, name: str, text: str) -> Policy:
        return cls(name, tuple(parse_many(text)))

    def label(self, item: RateLimitItem) -> str:
        return f"{self.name}-{item.get_expiry()}s"

    def header(self) -> str:
        return ", ".join(f'"{self.label(i)}";q={i.amount};w={i.get_expiry()}' for i in self.items)


class RateLimits:
    def __init__(
        self,
        storage: Storage,
        per_key: Policy,
        per_org: Policy,
        auth_failures: Policy,
        pool: BlockingConnectionPool | None = None,
    ) -> None:
        self._storage = storage
        self._pool = pool
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self.per_key = per_key
        self.per_org = per_org
        self.auth_failures = auth_failures
        self._warned_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        storage: Storage
        pool = None
        if settings.redis_url:
            # A bounded pool (a burst waits for a connection instead of opening hundreds) and
            # short socket timeouts: a hung Redis costs a request about a second, then fails
            # open. Waiting for a free connection may take longer: a burst of hundreds queues
            # here, and a request that gave up waiting would have failed open — the burst the
            # limiter exists for would then pass uncounted (seen under load with 500 at once).
            pool = BlockingConnectionPool.from_url(
                settings.redis_url,
                max_connections=32,
                timeout=10.0,
                socket_timeout=0.5,
                socket_connect_timeout=1.0,
            )
            storage = RedisStorage(
                "async+" + settings.redis_url,
                wrap_exceptions=True,
                implementation="redispy",
                key_prefix="callplane-ratelimit",
                connection_pool=pool,  # type: ignore[arg-type]  # documented; **options typed narrowly
            )
        else:
            storage = MemoryStorage()
        return cls(
            storage,
            Policy.parse("key", settings.rate_limit_per_key),
            Policy.parse("organization", settings.rate_limit_per_organization),
            Policy.parse("auth", settings.rate_limit_auth_failures),
            pool,
        )

    async def aclose(self) -> None:
        """Release Redis connections and the memory storage's expiry task (at app shutdown)."""
        if self._pool is not None:
            await self._pool.aclose()
        if isinstance(self._storage, MemoryStorage) and self._storage.timer is not None:
            self._storage.timer.cancel()

    async def before_credentials(self, request: Request) -> None:
        """429 for a source address past its wrong-credential allowance (no database work yet)."""
        source = _source(request)
        for item in self.auth_failures.items:
            if not await self._safely(self._limiter.test(item, "auth", source)):
                await self._refuse(self.auth_failures, item, ("auth", source), "too many failed sign-ins")

    async def credential_failed(self, request: Request) -> None:
        source = _source(request)
        for item in self.auth_failures.items:
            await self._safely(self._limiter.hit(item, "auth", source))

    async def admit(self, credential_id: str, organization_id: str) -> None:
        """Count one request of an authenticated key; 429 when the key or its organisation is over."""
        for policy, identity in ((self.per_key, credential_id), (self.per_org, organization_id)):
            for item in policy.items:
                if not await self._safely(self._limiter.hit(item, policy.name, identity)):
                    await self._refuse(policy, item, (policy.name, identity), "too many requests")

    async def _refuse(
        self, policy: Policy, item: RateLimitItem, identifiers: Sequence[str], message: str
    ) -> None:
        retry_after = item.get_expiry()
        try:
            stats = await self._limiter.get_window_stats(item, *identifiers)
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        except Exception:  # the storage failed between the hit and now: say the whole window
            self._warn("could not read the rate-limit window")
        raise RateLimited(
            f"{message}: {policy.name} limit of {item.amount} per {item.get_expiry()} s; "
            f"retry after {retry_after} s",
            retry_after,
            {
                "RateLimit-Policy": policy.header(),
                "RateLimit": f'"{policy.label(item)}";r=0;t={retry_after}',
            },
        )

    async def _safely(self, check: Awaitable[bool]) -> bool:
        # Any storage failure lets the request through (see the module docstring).
        try:
            return await check
        except Exception:
            self._warn("rate-limit storage unavailable; requests are not limited until it answers")
            return True

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning(message, exc_info=True)


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def limits_of(request: Request) -> RateLimits:
    limits: RateLimits = request.app.state.rate_limits
    return limits
