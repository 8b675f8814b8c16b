"""Helpers to run one call through the real conductor and simulated line, on virtual time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callplane.cli.demo import demo_agent_file
from callplane.config import Settings
from callplane.domain.agent import AgentVersion, parse_definition
from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction, TranscriptEntry
from callplane.domain.phone import parse_kr
from callplane.engine.clock import LoopClock, run_virtual
from callplane.engine.live.conduct import Outcome
from callplane.engine.live.conductor import LineConductor, Runtimes
from callplane.engine.live.session import Command, Event, Transport
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.telephony.provider import DialRequest, Provider
from callplane.engine.live.telephony.scenarios import builtin_scenarios, parse_scenarios
from callplane.engine.live.telephony.simulated import SimulatedProvider
from callplane.engine.live.telephony.simulated_audio import SimulatedAudio

EPOCH = 1_778_400_000_000


@dataclass
class RecordingHooks:
    events: list[tuple[str, Any]] = field(default_factory=list)
    end_after_answer: bool = False
    end_while_ringing: bool = False
    #: Every record reported while the call ran (transcript, collected), in order.
    records: list[tuple[list[TranscriptEntry], dict[str, Any]]] = field(default_factory=list)

    async def ringing(self, telephony_id: str) -> None:
        self.events.append(("ringing", telephony_id))

    async def answered(self, at_ms: int) -> None:
        self.events.append(("answered", at_ms))

    def end_requested(self) -> bool:
        if self.end_while_ringing and any(e[0] == "ringing" for e in self.events):
            return True
        return self.end_after_answer and any(e[0] == "answered" for e in self.events)

    def progress(self, transcript: list[TranscriptEntry], collected: dict[str, Any]) -> None:
        self.records.append((transcript, collected))


def version_of(agent_file: dict[str, Any], number: int = 1) -> AgentVersion:
    agent_id = "7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a"
    return parse_definition(agent_file).version("org-test", agent_id, number, EPOCH)


def demo_version() -> AgentVersion:
    return version_of(demo_agent_file())


def a_call(to_number: str = "01012345678", **variables: Any) -> Call:
    return Call(
        id="01a1fefd-62e5-726b-a4c7-d18410724db0",
        organization_id="org",
        agent=AgentRef("7f3e9c12-4a8b-4d5e-9f1a-2b3c4d5e6f7a", "current", 1),
        call_type=CallType.OUTBOUND,
        direction=Direction.OUTBOUND,
        status=CallStatus.DIALING,
        from_number=parse_kr("07011112222", "n"),
        to_number=parse_kr(to_number, "n"),
        presentation_number=None,
        created_at=EPOCH,
        updated_at=EPOCH,
        due_at=EPOCH,
        metadata={},
        dynamic_variables=variables or {"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
        attempt=1,
    )


class SpyLine:
    """A transport that shows every command to `seen` before passing it on."""

    def __init__(self, inner: Transport, seen: Callable[[Command], None]) -> None:
        self.inner = inner
        self.seen = seen

    @property
    def telephony_id(self) -> str:
        return self.inner.telephony_id

    async def receive(self) -> Event:
        return await self.inner.receive()

    async def send(self, command: Command) -> None:
        self.seen(command)
        await self.inner.send(command)


class SpyProvider:
    name = "spy"

    def __init__(self, inner: Provider, seen: Callable[[Command], None]) -> None:
        self.inner = inner
        self.seen = seen

    async def dial(self, request: DialRequest) -> Transport:
        return SpyLine(await self.inner.dial(request), self.seen)


def conduct(
    call: Call,
    version: AgentVersion,
    hooks: RecordingHooks | None = None,
    *,
    scenarios: list[dict[str, Any]] | None = None,
    settings: Settings | None = None,
    speed: float = 1.0,
    virtual: bool = True,
    seen: Callable[[Command], None] | None = None,
) -> tuple[Outcome, RecordingHooks]:
    """Run the call on a VirtualTimeLoop (a ten-minute call takes milliseconds), or on a real
    loop when it talks to real sockets (`virtual=False`). `seen` gets every command sent."""
    hooks = hooks or RecordingHooks()
    chosen = builtin_scenarios()
    if scenarios:
        chosen = parse_scenarios({"scenarios": scenarios}) + chosen
    settings = settings or Settings()

    async def run() -> Outcome:
        clock = LoopClock(EPOCH)
        runtimes = Runtimes(settings)
        provider: Provider = SimulatedProvider(
            chosen,
            clock,
            speed=speed,
            audio=SimulatedAudio(SpeechStack.from_settings(settings)),
            audio_by_default=settings.simulator_audio,
        )
        if seen is not None:
            provider = SpyProvider(provider, seen)
        conductor = LineConductor(provider, clock, runtimes.build)
        try:
            return await conductor.conduct(call, version, hooks)
        finally:
            await runtimes.close()

    return (run_virtual(run()) if virtual else asyncio.run(run())), hooks


def said(outcome: Outcome, role: str) -> list[str]:
    return [e["content"] for e in outcome.transcript if e.get("role") == role]


def dumps(outcome: Outcome) -> str:
    return json.dumps(outcome.transcript, ensure_ascii=False, indent=1)
