"""The background tasks one live-call object starts (a transport's player, a pipeline's reader…).

Each such object spawns tasks while the call runs and must stop them all when it closes: one
small holder instead of a set and a done-callback written into each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Tasks:
    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def cancel(self, *, spare_current: bool = False) -> None:
        """Cancel every running task; the calling task too, unless spared (it then goes on to its
        end; cancelled, it stops at its next await)."""
        current = asyncio.current_task()
        for task in list(self._running):
            if not (spare_current and task is current):
                task.cancel()

    async def wait(self) -> None:
        """Wait until every task other than the calling one has stopped."""
        current = asyncio.current_task()
        for task in list(self._running):
            if task is not current:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
