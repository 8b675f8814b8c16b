"""`Carriers` asks which line a number is on off the event loop: the answer is a database read."""

from __future__ import annotations

import asyncio
import threading

import pytest

from callplane.config import Settings
from callplane.engine.clock import SystemClock
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.registry import Carriers

REQUEST = DialRequest("call-1", 1, "+827055556666", "+821012345678", None, 30, organization_id="org")


class Asked(Exception):
    pass


def test_the_line_of_a_number_is_not_read_on_the_event_loop() -> None:
    asked_on: list[threading.Thread] = []

    def line_of(_number: str) -> str:
        asked_on.append(threading.current_thread())
        raise Asked  # what it answers does not matter here

    carriers = Carriers(Settings(), SystemClock(), line_of)

    async def dial_and_hang_up_an_orphan() -> threading.Thread:
        with pytest.raises(Asked):
            await carriers.dial(REQUEST)
        with pytest.raises(Asked):
            await carriers.hang_up_orphan(REQUEST.from_number, "sim-1")
        return threading.current_thread()

    loop_thread = asyncio.run(dial_and_hang_up_an_orphan())
    assert len(asked_on) == 2
    assert loop_thread not in asked_on
