"""The simulated telephone line: the default provider, entirely in process, no network.

The callee is a scripted `Scenario` picked by the number dialled. Speech takes time — the
agent speaks `agent_chars_per_s` characters a second, the callee its persona's rate, the
phone rings `ring_s` per ring — all divided by `speed` (default 4: demos finish in seconds;
1 is real-time pacing). Timeouts that belong to the agent (ring timeout, silence, maximum
duration) are not sped up: they are the agent's settings, measured on the engine's clock.
"""

from __future__ import annotations

import asyncio

from callplane.engine.clock import Clock
from callplane.engine.live.telephony.provider import CarrierEvent, DialRequest, Heard, HeardKind, Said
from callplane.engine.live.telephony.scenarios import AfterReplies, Answer, Persona, Scenario, pick

RING_S = 3.0
AGENT_CHARS_PER_S = 10.0
_FINAL = {
    Answer.HUMAN: CarrierEvent.ANSWERED,
    Answer.VOICEMAIL: CarrierEvent.MACHINE,
    Answer.BUSY: CarrierEvent.BUSY,
    Answer.DECLINED: CarrierEvent.DECLINED,
    Answer.FAILED: CarrierEvent.FAILED,
}


class SimulatedProvider:
    name = "simulated"

    def __init__(self, scenarios: tuple[Scenario, ...], clock: Clock, *, speed: float = 4.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.scenarios = scenarios
        self.clock = clock
        self.speed = speed

    async def dial(self, request: DialRequest) -> SimulatedLine:
        return SimulatedLine(request, pick(self.scenarios, request.to_number), self.clock, self.speed)


class SimulatedLine:
    def __init__(self, request: DialRequest, scenario: Scenario, clock: Clock, speed: float) -> None:
        self.request = request
        self.scenario = scenario
        self.clock = clock
        self.speed = speed
        self._rang = False
        self._closed = False
        self._agent_turns = 0
        self._replies_given = 0
        self._script_index = 0
        self._heard_since_reply: list[str] = []
        self._pending: str | None = None
        self._greeted = False

    @property
    def telephony_id(self) -> str:
        return f"sim-{self.request.call_id}-{self.request.attempt}"

    @property
    def persona(self) -> Persona:
        return self.scenario.persona

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    async def next_event(self) -> CarrierEvent:
        scenario = self.scenario
        if not self._rang:
            self._rang = True
            if scenario.answer is Answer.FAILED and scenario.rings == 0:
                return CarrierEvent.FAILED
            return CarrierEvent.RINGING
        ringing_for = scenario.rings * RING_S / self.speed
        if scenario.answer is Answer.NO_ANSWER or ringing_for > self.request.ring_timeout_s:
            await asyncio.sleep(self.request.ring_timeout_s)
            return CarrierEvent.NO_ANSWER
        await asyncio.sleep(ringing_for)
        return _FINAL[scenario.answer]

    async def say(self, text: str) -> Said:
        start = self.clock.now_ms()
        if self._closed:
            return Said(start, start, completed=False, spoken="")
        self._agent_turns += 1
        duration = len(text) / AGENT_CHARS_PER_S
        if self.persona.hangup_during_agent_turn == self._agent_turns:
            await self._pause(duration / 2)
            self._closed = True
            return Said(start, self.clock.now_ms(), completed=False, spoken=text[: len(text) // 2])
        await self._pause(duration)
        self._heard_since_reply.append(text)
        return Said(start, self.clock.now_ms(), completed=True, spoken=text)

    async def listen(self, timeout_s: float) -> Heard:
        if self._closed:
            now = self.clock.now_ms()
            return Heard(HeardKind.HANGUP, start_at=now, end_at=now)
        if self.scenario.answer is Answer.VOICEMAIL and not self._greeted:
            self._greeted = True
            return await self._speak(self.persona.voicemail_greeting)
        reply = self._pending if self._pending is not None else self._next_reply()
        if reply == _HANGUP:
            await self._pause(self.persona.think_s)
            self._closed = True
            now = self.clock.now_ms()
            return Heard(HeardKind.HANGUP, start_at=now, end_at=now)
        think = self.persona.think_s / self.speed
        if reply is None or think >= timeout_s:
            # Silent, or too slow for this timeout: the reply (if any) stays on the tip of the tongue.
            self._pending = reply
            await asyncio.sleep(timeout_s)
            now = self.clock.now_ms()
            return Heard(HeardKind.SILENCE, start_at=now, end_at=now)
        self._pending = None
        await asyncio.sleep(think)
        self._replies_given += 1
        self._heard_since_reply.clear()
        return await self._speak(reply)

    async def _speak(self, text: str) -> Heard:
        start = self.clock.now_ms()
        await self._pause(len(text) / self.persona.chars_per_s)
        return Heard(HeardKind.SPEECH, text, start, self.clock.now_ms())

    def _next_reply(self) -> str | None:
        persona = self.persona
        if persona.silent:
            return None
        if persona.hangup_after_replies is not None and self._replies_given >= persona.hangup_after_replies:
            return _HANGUP
        heard = " ".join(self._heard_since_reply)
        for rule in persona.keywords:
            if any(word in heard for word in rule.heard):
                return rule.say
        if self._script_index < len(persona.replies):
            self._script_index += 1
            return persona.replies[self._script_index - 1]
        if persona.after_replies is AfterReplies.REPEAT_LAST and persona.replies:
            return persona.replies[-1]
        if persona.after_replies is AfterReplies.SILENT:
            return None
        return _HANGUP

    async def transfer(self, number: str) -> bool:
        await self._pause(1.0)
        if self.persona.transfer_accepted:
            self._closed = True
            return True
        return False

    async def hangup(self) -> None:
        self._closed = True


#: Marker for "the callee hangs up now" (a str so the reply slot keeps one type).
_HANGUP = "\x00hangup"
