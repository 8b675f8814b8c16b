"""Rehearse an agent on the simulated line: a unit-test call that touches no database.

What `callplane agents try` and the dashboard's rehearsal both run. The callee's number picks
the simulator's scenario; flow agents run on virtual time (a long call finishes at once), LLM
agents in real time because they talk to a real endpoint.
"""

from __future__ import annotations

import asyncio
from typing import Any

from callplane.config import Settings
from callplane.domain.agent import AgentKind, AgentVersion
from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction, TranscriptEntry
from callplane.domain.ids import new_id
from callplane.domain.phone import parse_any
from callplane.engine.clock import LoopClock, SystemClock, run_virtual
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.live.conductor import build_conductor


class QuietHooks:
    """Hooks that note nothing: a rehearsal has no worker to tell."""

    async def ringing(self, telephony_id: str) -> None:
        return None

    async def answered(self, at_ms: int) -> None:
        return None

    def end_requested(self) -> bool:
        return False

    def progress(self, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> None:
        return None


def rehearse(
    settings: Settings,
    version: AgentVersion,
    to_number: str,
    variables: dict[str, Any],
    hooks: CallHooks | None = None,
    *,
    real_time: bool = False,
) -> Outcome:
    """Run `version` against the simulated callee at `to_number` (domestic or E.164).

    `real_time`: a flow agent too runs on the wall clock, so someone watching `hooks.progress`
    (the dashboard) sees the conversation at the pace of a call rather than all at once."""
    now = SystemClock().now_ms()
    call = Call(
        id=new_id(),
        organization_id=version.organization_id or "try",
        agent=AgentRef(version.agent_id, f"v{version.version}", version.version),
        call_type=CallType.UNIT_TEST,
        direction=Direction.OUTBOUND,
        status=CallStatus.DIALING,
        from_number=parse_any("07011112222", "from"),
        to_number=parse_any(to_number, "to"),
        presentation_number=None,
        created_at=now,
        updated_at=now,
        due_at=now,
        metadata={},
        dynamic_variables=variables,
        attempt=1,
    )
    virtual = version.kind is AgentKind.FLOW and not real_time

    async def conduct() -> Outcome:
        clock = LoopClock(now) if virtual else SystemClock()
        return await build_conductor(settings, clock).conduct(call, version, hooks or QuietHooks())

    return run_virtual(conduct()) if virtual else asyncio.run(conduct())
