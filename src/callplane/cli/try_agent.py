"""`callplane agents try`: run an agent file against the simulated line, no database needed.

A unit test for an agent author: pick the callee by number (the simulator's scenarios), give the
call's variables, read the transcript and how the call ended. Flow agents run on virtual time —
a long call finishes instantly; LLM agents run in real time because they talk to a real endpoint.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from callplane.cli.context import Context, console, print_json
from callplane.domain.agent import AgentKind, parse_definition
from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction, TranscriptEntry
from callplane.domain.ids import new_id
from callplane.domain.phone import parse_any
from callplane.engine.clock import LoopClock, SystemClock, run_virtual
from callplane.engine.live.conduct import Outcome
from callplane.engine.live.conductor import build_conductor


class _Hooks:
    async def ringing(self, telephony_id: str) -> None:
        console.print(f"[dim]ringing ({telephony_id})[/dim]")

    async def answered(self, at_ms: int) -> None:
        console.print("[dim]answered[/dim]")

    def end_requested(self) -> bool:
        return False

    def progress(self, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> None:
        """Nothing to keep: the transcript is printed from the outcome."""


def run(c: Context, raw: dict[str, Any], to_number: str, variables: dict[str, str], as_json: bool) -> Outcome:
    definition = parse_definition(raw)
    version = definition.version("", new_id(), 1, SystemClock().now_ms())
    now = SystemClock().now_ms()
    call = Call(
        id=new_id(),
        organization_id="try",
        agent=AgentRef(version.agent_id, "v1", 1),
        call_type=CallType.UNIT_TEST,
        direction=Direction.OUTBOUND,
        status=CallStatus.DIALING,
        from_number=parse_any("07011112222", "from"),
        to_number=parse_any(to_number, "--to"),
        presentation_number=None,
        created_at=now,
        updated_at=now,
        due_at=now,
        metadata={},
        dynamic_variables=variables,
        attempt=1,
    )

    async def conduct() -> Outcome:
        clock = LoopClock(now) if definition.kind is AgentKind.FLOW else SystemClock()
        return await build_conductor(c.settings, clock).conduct(call, version, _Hooks())

    outcome = run_virtual(conduct()) if definition.kind is AgentKind.FLOW else asyncio.run(conduct())
    if as_json:
        print_json(
            {
                "status": outcome.status.value,
                "reason": outcome.reason.value,
                "error_detail": outcome.error_detail,
                "collected": outcome.collected,
                "transcript": outcome.transcript,
            }
        )
    else:
        _print(outcome)
    return outcome


def _print(outcome: Outcome) -> None:
    for entry in outcome.transcript:
        role = entry["role"]
        at = int(entry.get("start_at") or entry.get("at") or 0)
        stamp = datetime.fromtimestamp(at / 1000).strftime("%H:%M:%S")
        if role in ("agent", "user"):
            colour = "cyan" if role == "agent" else "green"
            console.print(f"{stamp} [{colour}]{role:>5}[/{colour}] {entry['content']}")
        elif role == "tool_call_invocation":
            console.print(f"{stamp} [magenta] tool[/magenta] {entry['name']}({entry['arguments']})")
        elif role == "tool_call_result":
            console.print(f"{stamp} [magenta]   =>[/magenta] {entry['content']}")
    detail = f" — {outcome.error_detail}" if outcome.error_detail else ""
    console.print(f"[bold]{outcome.status.value} / {outcome.reason.value}[/bold]{detail}")
    if outcome.collected:
        console.print(f"collected: {outcome.collected}")
