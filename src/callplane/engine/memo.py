"""A bounded memo for what is derived from immutable things (agent versions, their parsed flows).

One implementation for the engine's few process-wide remembrances, so each is bounded the same
way. Keys must identify the thing completely — for an agent version that is `AgentVersion.key`,
organisation included: agent ids are unique only within an organisation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """Remembers up to `limit` values; when full it starts afresh (cheap, and the values are
    cheap to make again — a database read or a parse — so no eviction order is worth keeping)."""

    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self._values: dict[K, V] = {}

    def get(self, key: K, make: Callable[[], V]) -> V:
        try:
            return self._values[key]
        except KeyError:
            pass
        return self._put(key, make())

    async def aget(self, key: K, make: Callable[[], Awaitable[V]]) -> V:
        """`get` for a value made by awaiting (a read run off the event loop)."""
        try:
            return self._values[key]
        except KeyError:
            pass
        return self._put(key, await make())

    def _put(self, key: K, value: V) -> V:
        if len(self._values) >= self.limit:
            self._values.clear()
        self._values[key] = value
        return value
