"""The three narrow interfaces a speech engine implements, and what flows through them.

- `Synthesizer`: text → PCM16, streamed in chunks, each with its own sample rate (an engine may
  stream as it renders; the pipeline resamples and frames).
- `Transcriber`: one utterance's PCM16 → text (batch), with word timings when the engine has
  them. A `StreamingTranscriber` also takes the audio while the callee talks (`open` a stream
  per turn, `send` frames, `finish` for the final text) and reports partial text on the way, so
  the final text is ready moments after the turn ends; the pipeline uses it when it is offered.
- `TurnDetector`: fed every 20 ms frame, says when the callee started speaking and when their
  turn ended (after a configurable silence). It wraps a `VoiceActivity` classifier.

Engines are chosen by name from the registries in `registry.py`.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Voice:
    """How to speak and what to listen for: the engine's voice name (None: its default) and the
    language (BCP 47)."""

    voice: str | None = None
    language: str = "ko-KR"


@dataclass(frozen=True, slots=True)
class AudioChunk:
    pcm: bytes  #: PCM16 little-endian mono
    sample_rate: int


@dataclass(frozen=True, slots=True)
class WordTiming:
    word: str
    start_ms: int  #: from the start of the audio given
    end_ms: int


@dataclass(frozen=True, slots=True)
class Recognized:
    text: str
    words: tuple[WordTiming, ...] = ()


class SpeechEngineError(Exception):
    """An engine failed for good (after its retries); the call ends with this as its detail."""


class Synthesizer(Protocol):
    def synthesize(self, text: str, voice: Voice) -> AsyncIterator[AudioChunk]: ...


class Transcriber(Protocol):
    async def transcribe(self, pcm: bytes, sample_rate: int, voice: Voice) -> Recognized: ...


class TranscriptionStream(Protocol):
    async def send(self, pcm: bytes) -> None: ...

    async def finish(self) -> Recognized:
        """No more audio: the final text of the turn (word timings from the stream's start)."""
        ...

    async def aclose(self) -> None:
        """Give up on the stream (the call ended); harmless after `finish`."""
        ...


@runtime_checkable
class StreamingTranscriber(Transcriber, Protocol):
    async def open(
        self, sample_rate: int, voice: Voice, on_partial: Callable[[str], None]
    ) -> TranscriptionStream: ...


class VoiceActivity(Protocol):
    def is_speech(self, frame: bytes, sample_rate: int) -> bool:
        """Whether one 10, 20 or 30 ms PCM16 frame holds speech."""
        ...


class Turn(enum.StrEnum):
    STARTED = "started"
    ENDED = "ended"


class TurnDetector(Protocol):
    silence_ms: int  #: the silence that ends a turn

    def feed(self, frame: bytes, sample_rate: int) -> Turn | None:
        """One frame in; a `Turn` when this frame starts or ends the callee's turn."""
        ...

    @property
    def speech_ms(self) -> int:
        """How long the current turn has been going (including the frames that started it)."""
        ...
