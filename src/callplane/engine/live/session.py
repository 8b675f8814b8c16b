"""The live call as an event stream: events in, commands out.

A live call is a `Transport`: `receive()` returns the next `Event` (carrier progress, audio,
the callee starting and stopping to speak, transcripts, DTMF keys, playback marks, the
hang-up) and `send()` takes a `Command` (speak — streamed in chunks —, stop speaking,
transfer, hang up). It is the shape ASGI gives an HTTP request: the conversation above
never knows what carries the call, and a transport never knows what the agent means.

Layers plug into the same two methods:

- the simulated text line (`telephony/simulated.py`) is a transport that already speaks in
  final transcripts and answers `Speak` with playback marks at the callee's listening pace;
- a carrier's media stream (Twilio `media`/`mark`/`clear`/`dtmf`/`stop`) is a raw transport
  that emits `AudioFrame`s, `Dtmf`, `Carrier` and `HungUp`;
- a speech pipeline wraps a raw transport and is itself a transport: it turns frames into
  `SpeechStarted`/`SpeechStopped`/transcripts (turn detection and a transcriber), `Speak`
  chunks into synthesized frames each followed by a carrier mark, the carrier's marks back into
  `PlaybackMark`s, and `StopSpeaking` into the carrier's `clear`.

So wire format, transport and conversation logic never meet: the agent runtimes sit on
`Conversation` (agents/conversation.py), which sits on whichever transport the provider dialled.

Every event carries `at`, Unix ms from the engine's clock, stamped by the transport.

Below a speech pipeline the vocabulary is audio-level (`RawTransport`): events are
`AudioFrame`, `AudioMarked` (a mark whose audio has been played out, or dropped by a clear),
`Dtmf`, `Carrier` and `HungUp`; commands are `PlayAudio`, `Mark`, `ClearAudio`, `Transfer` and
`HangUp` — exactly what a carrier's media stream carries (Twilio `media`/`mark`/`clear`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from callplane.domain.call import DisconnectionReason


class CarrierStatus(enum.StrEnum):
    RINGING = "ringing"
    ANSWERED = "answered"  #: a person picked up
    MACHINE = "machine"  #: voicemail or an answering machine picked up
    BUSY = "busy"
    NO_ANSWER = "no_answer"  #: rang until the ring timeout
    DECLINED = "declined"  #: the callee rejected the call
    FAILED = "failed"  #: the carrier could not place it
    TRANSFERRED = "transferred"  #: a `Transfer` was accepted: the callee is someone else's now
    TRANSFER_FAILED = "transfer_failed"  #: a `Transfer` was refused; the call goes on

    @property
    def not_connected_reason(self) -> DisconnectionReason | None:
        return _NOT_CONNECTED.get(self)


_NOT_CONNECTED = {
    CarrierStatus.BUSY: DisconnectionReason.DIAL_BUSY,
    CarrierStatus.NO_ANSWER: DisconnectionReason.DIAL_NO_ANSWER,
    CarrierStatus.DECLINED: DisconnectionReason.DIAL_DECLINED,
    CarrierStatus.FAILED: DisconnectionReason.DIAL_FAILED,
}


class Codec(enum.StrEnum):
    PCM16 = "pcm16"  #: signed 16-bit little-endian
    MULAW = "mulaw"  #: G.711 μ-law, what Twilio and most carriers stream (8 kHz)
    ALAW = "alaw"


# --- events in -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Carrier:
    """Carrier progress: ringing, then how the dial ended; later the answer to a `Transfer`."""

    status: CarrierStatus
    at: int


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """The callee's audio, for a speech pipeline; a conversation ignores raw frames."""

    data: bytes
    codec: Codec
    sample_rate: int
    at: int


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The callee started speaking (turn detection). While the agent speaks, this is a barge-in."""

    at: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    at: int


@dataclass(frozen=True, slots=True)
class Word:
    word: str
    start_at: int
    end_at: int


@dataclass(frozen=True, slots=True)
class PartialTranscript:
    """What the transcriber has so far; may change. Conversations act on final transcripts only."""

    text: str
    at: int


@dataclass(frozen=True, slots=True)
class FinalTranscript:
    """One finished utterance of the callee."""

    text: str
    start_at: int
    end_at: int
    words: tuple[Word, ...] = ()

    @property
    def at(self) -> int:
        return self.end_at


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The callee pressed a key: `0`-`9`, `*`, `#` (or `A`-`D`)."""

    digit: str
    at: int


@dataclass(frozen=True, slots=True)
class PlaybackMark:
    """How much of an utterance the callee has actually heard.

    `played` counts characters of the utterance's text (all `Speak` chunks joined) that were
    played out. A mark with `played == 0` says playback of the utterance started. `done` is the
    last mark of the utterance: it was played to its end, or stopped (`StopSpeaking`, hang-up) —
    then `played` is where it stopped.
    """

    utterance_id: str
    played: int
    at: int
    done: bool = False


@dataclass(frozen=True, slots=True)
class AudioMarked:
    """A raw transport's answer to `Mark`: the audio sent before it has been played out.

    Like Twilio, a raw transport also returns the pending marks when `ClearAudio` drops them;
    the pipeline tells the two apart because it knows when it sent the clear.
    """

    name: str
    at: int


@dataclass(frozen=True, slots=True)
class HungUp:
    """The call is over from the carrier's side (the callee hung up, or the line dropped)."""

    at: int


Event = (
    Carrier
    | AudioFrame
    | SpeechStarted
    | SpeechStopped
    | PartialTranscript
    | FinalTranscript
    | Dtmf
    | PlaybackMark
    | HungUp
)


# --- commands out ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Speak:
    """A chunk of an utterance (a sentence, say); chunks of one id play in order, back to back.

    `end` closes the utterance; the transport then reports its last mark (`done`) once it has
    been played. Chunks arriving while earlier ones play are queued, so an answer streamed by a
    model starts playing with its first sentence.
    """

    utterance_id: str
    text: str
    end: bool = False


@dataclass(frozen=True, slots=True)
class StopSpeaking:
    """Stop playback at once and drop what is queued (barge-in; Twilio's `clear`)."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Bridge the callee to `number`; answered by `Carrier(TRANSFERRED | TRANSFER_FAILED)`."""

    number: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """End the call from our side; harmless twice, or after the callee hung up."""


Command = Speak | StopSpeaking | Transfer | HangUp


@dataclass(frozen=True, slots=True)
class PlayAudio:
    """Audio for the callee, queued behind what is already playing (a carrier's `media`)."""

    data: bytes
    codec: Codec
    sample_rate: int


@dataclass(frozen=True, slots=True)
class Mark:
    """Answered by `AudioMarked(name)` once everything sent before it has been played."""

    name: str


@dataclass(frozen=True, slots=True)
class ClearAudio:
    """Drop all queued audio now (Twilio's `clear`); pending marks come back at once."""


RawEvent = Carrier | AudioFrame | AudioMarked | Dtmf | HungUp
RawCommand = PlayAudio | Mark | ClearAudio | Transfer | HangUp


class Transport(Protocol):
    @property
    def telephony_id(self) -> str: ...

    async def receive(self) -> Event:
        """The next event. After `HungUp` (or our own `HangUp`) nothing more arrives."""
        ...

    async def send(self, command: Command) -> None: ...


class RawTransport(Protocol):
    """A call as audio: what a carrier's media stream (or the simulated audio line) offers."""

    @property
    def telephony_id(self) -> str: ...

    async def receive(self) -> RawEvent: ...

    async def send(self, command: RawCommand) -> None: ...
