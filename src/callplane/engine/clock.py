"""The one clock all engine code takes time from.

`Clock.now_ms()` is wall time in Unix ms; waiting is plain asyncio (`asyncio.sleep`,
`asyncio.wait_for`), which reads the event loop's clock. Production uses `SystemClock` on an
ordinary loop. Tests run the engine on a `VirtualTimeLoop`, whose clock jumps straight to the
next timer whenever the loop has nothing else to do, and give it a `LoopClock`, whose wall time
follows that loop: a ten-minute call then runs in milliseconds, deterministically.

The jump only happens when no real socket of the loop has data waiting, so code that awaits
real network I/O (a local fake LLM server, a webhook receiver) should run on a real loop. Work
handed to a thread with `run_in_executor` (the worker's database work, `engine.jobs.lanes`) is
safe: while any is outstanding the loop waits for it in real time and its clock stands still, as
if the work had run inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, Protocol, TypeVar, TypeVarTuple, Unpack

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Clock(Protocol):
    def now_ms(self) -> int: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class LoopClock:
    """Wall time that follows the running loop's clock, starting from `epoch_ms`.

    Create it inside the loop it follows (or it starts counting at its first reading).
    """

    def __init__(self, epoch_ms: int | None = None) -> None:
        self._epoch_ms = SystemClock().now_ms() if epoch_ms is None else epoch_ms
        self._loop_start: float | None = None
        with contextlib.suppress(RuntimeError):  # no running loop yet
            self._loop_start = asyncio.get_running_loop().time()

    def now_ms(self) -> int:
        loop_time = asyncio.get_running_loop().time()
        if self._loop_start is None:
            self._loop_start = loop_time
        return self._epoch_ms + round((loop_time - self._loop_start) * 1000)


class FixedClock:
    """A clock that moves only when told to; for unit tests of synchronous code."""

    def __init__(self, now_ms: int) -> None:
        self.value = now_ms

    def now_ms(self) -> int:
        return self.value

    def advance(self, ms: int) -> None:
        self.value += ms


class _JumpingSelector(selectors.BaseSelector):
    """Wraps a real selector; where the loop would block until its next timer, jump instead."""

    def __init__(self, loop_clock: list[float], in_threads: list[int]) -> None:
        self._time = loop_clock
        self._in_threads = in_threads
        self._real = selectors.DefaultSelector()

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None or self._in_threads[0]:
            # Nothing is scheduled, or a thread works for the loop: only another thread can wake
            # it (a finished executor job wakes it through the loop's self-pipe), so really wait.
            return self._real.select(None)
        self._time[0] += timeout
        return []

    def get_map(self) -> Any:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose time only advances when every task is waiting on a timer."""

    def __init__(self) -> None:
        self._virtual_time = [0.0]
        self._in_threads = [0]
        super().__init__(selector=_JumpingSelector(self._virtual_time, self._in_threads))
        self._clock_resolution = 1e-9

    def time(self) -> float:
        return self._virtual_time[0]

    def run_in_executor(
        self, executor: Executor | None, func: Callable[[Unpack[Ts]], T], *args: *Ts
    ) -> asyncio.Future[T]:
        future = super().run_in_executor(executor, func, *args)
        self._in_threads[0] += 1

        def done(_: asyncio.Future[Any]) -> None:
            # Runs on the loop once the result is delivered, so no jump can slip in between.
            self._in_threads[0] -= 1

        future.add_done_callback(done)
        return future


def run_virtual(coro: Any) -> Any:
    """Run a coroutine to completion on a fresh `VirtualTimeLoop`."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
