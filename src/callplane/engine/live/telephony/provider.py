"""The telephony provider protocol: place a call, follow the carrier, talk, hang up.

A provider turns a `DialRequest` into a `Line`. The line first reports carrier progress
(`next_event`: ringing, then one final event — answered by a person, answered by a machine,
busy, no answer, declined, failed), then carries the conversation as text: `say` plays the
agent's words to the callee, `listen` returns the callee's next utterance, silence, or the
hang-up. A real provider (Twilio Media Streams) implements the same protocol with speech
synthesis and recognition behind `say` and `listen`; the agent runtimes never know which.

Times on the wire are Unix ms, taken from the engine's clock.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from callplane.domain.call import DisconnectionReason


class CarrierEvent(enum.StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"  #: a person picked up
    MACHINE = "machine"  #: voicemail or an answering machine picked up
    BUSY = "busy"
    NO_ANSWER = "no_answer"  #: rang until the ring timeout
    DECLINED = "declined"  #: the callee rejected the call
    FAILED = "failed"  #: the carrier could not place it

    @property
    def not_connected_reason(self) -> DisconnectionReason | None:
        return _NOT_CONNECTED.get(self)


_NOT_CONNECTED = {
    CarrierEvent.BUSY: DisconnectionReason.DIAL_BUSY,
    CarrierEvent.NO_ANSWER: DisconnectionReason.DIAL_NO_ANSWER,
    CarrierEvent.DECLINED: DisconnectionReason.DIAL_DECLINED,
    CarrierEvent.FAILED: DisconnectionReason.DIAL_FAILED,
}


@dataclass(frozen=True, slots=True)
class DialRequest:
    call_id: str
    attempt: int  #: with call_id, the provider-side idempotency key: one dial per attempt
    from_number: str  #: E.164
    to_number: str
    presentation_number: str | None
    ring_timeout_s: float


class HeardKind(enum.StrEnum):
    SPEECH = "speech"
    SILENCE = "silence"
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class Heard:
    kind: HeardKind
    text: str = ""
    start_at: int = 0
    end_at: int = 0


@dataclass(frozen=True, slots=True)
class Said:
    start_at: int
    end_at: int
    completed: bool  #: False: the callee hung up before the agent finished
    spoken: str  #: what the callee actually heard (all of it, unless cut off)


class Line(Protocol):
    @property
    def telephony_id(self) -> str: ...

    async def next_event(self) -> CarrierEvent:
        """The next carrier event; after a final one (anything but RINGING) do not call again."""
        ...

    async def say(self, text: str) -> Said: ...

    async def listen(self, timeout_s: float) -> Heard:
        """The callee's next utterance, SILENCE after `timeout_s` without one, or HANGUP."""
        ...

    async def transfer(self, number: str) -> bool:
        """Bridge the callee to `number`; True when the transfer was accepted."""
        ...

    async def hangup(self) -> None:
        """End the call from our side; safe to call twice or after the callee hung up."""
        ...


class Provider(Protocol):
    name: str

    async def dial(self, request: DialRequest) -> Line: ...
