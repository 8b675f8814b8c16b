"""`callplane agents try`: run an agent file against the simulated line, no database needed.

A unit test for an agent author: pick the callee by number (the simulator's scenarios), give the
call's variables, read the transcript and how the call ended (`engine.services.rehearsal`, which
the dashboard's rehearsal runs too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callplane.cli.context import Context, console, print_json
from callplane.domain.agent import parse_definition
from callplane.domain.call import TranscriptEntry
from callplane.domain.ids import new_id
from callplane.engine.clock import SystemClock
from callplane.engine.live.conduct import Outcome
from callplane.engine.services.rehearsal import rehearse


class _Hooks:
    async def ringing(self, telephony_id: str) -> None:
        console().print(f"[dim]ringing ({telephony_id})[/dim]")

    async def answered(self, at_ms: int) -> None:
        console().print("[dim]answered[/dim]")

    def end_requested(self) -> bool:
        return False

    def progress(self, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> None:
        """Nothing to keep: the transcript is printed from the outcome."""


def run(c: Context, raw: dict[str, Any], to_number: str, variables: dict[str, str], as_json: bool) -> Outcome:
    definition = parse_definition(raw)
    version = definition.version("", new_id(), 1, SystemClock().now_ms())
    outcome = rehearse(c.settings, version, to_number, dict(variables), _Hooks())
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
            console().print(f"{stamp} [{colour}]{role:>5}[/{colour}] {entry['content']}")
        elif role == "tool_call_invocation":
            console().print(f"{stamp} [magenta] tool[/magenta] {entry['name']}({entry['arguments']})")
        elif role == "tool_call_result":
            console().print(f"{stamp} [magenta]   =>[/magenta] {entry['content']}")
    detail = f" — {outcome.error_detail}" if outcome.error_detail else ""
    console().print(f"[bold]{outcome.status.value} / {outcome.reason.value}[/bold]{detail}")
    if outcome.collected:
        console().print(f"collected: {outcome.collected}")
