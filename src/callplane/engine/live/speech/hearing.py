"""Callee → agent: audio frames turned into turns and text.

Every `AudioFrame` is decoded to PCM16, fed to the turn detector and kept (with a short
pre-roll, so the first syllable is not lost to the detector's start delay); a turn's start is
`SpeechStarted`, its end `SpeechStopped`, and its audio goes to the transcriber, whose text comes
back as a `FinalTranscript` (in order, even when transcription is slower than speech). A
streaming transcriber gets the turn's frames as they arrive and reports `PartialTranscript`s.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from callplane.engine.clock import Clock
from callplane.engine.live.session import (
    AudioFrame,
    Event,
    FinalTranscript,
    PartialTranscript,
    SpeechStarted,
    SpeechStopped,
    Word,
)
from callplane.engine.live.speech import audio
from callplane.engine.live.speech.playout import Tee
from callplane.engine.live.speech.protocols import (
    Recognized,
    StreamingTranscriber,
    Transcriber,
    Turn,
    TurnDetector,
    Voice,
)
from callplane.engine.live.tasks import Tasks


@dataclass
class _Heard:
    """One callee turn on its way to text: its frames arrive while it is transcribed."""

    audio_at: int  #: Unix ms of its first sample (pre-roll included)
    start_at: int
    end_at: int = 0
    frames: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)  # None: turn over


class Hearing:
    """The inbound half of a `SpeechPipeline`; `emit`, `fail` and `tasks` are the pipeline's."""

    def __init__(
        self,
        clock: Clock,
        *,
        transcriber: Transcriber,
        turns: TurnDetector,
        voice: Voice,
        sample_rate: int,
        preroll_ms: int,
        max_turn_ms: int,
        emit: Callable[[Event], None],
        fail: Callable[[BaseException], None],
        tasks: Tasks,
    ) -> None:
        self.clock = clock
        self.transcriber = transcriber
        self.turns = turns
        self.voice = voice
        self.sample_rate = sample_rate
        self.max_turn_ms = max_turn_ms
        self.tee: Tee | None = None
        self._emit = emit
        self._fail = fail
        self._tasks = tasks
        self._preroll: deque[bytes] = deque(maxlen=max(1, preroll_ms // audio.FRAME_MS))
        self._in_rate = sample_rate
        self._in = audio.Resampler(sample_rate, sample_rate)
        self._heard: _Heard | None = None  #: the callee's turn in progress
        self._heard_ms = 0
        self._last_heard: asyncio.Task[None] | None = None  #: finals are reported in turn order

    def hear(self, frame: AudioFrame) -> None:
        if frame.sample_rate != self._in_rate:  # a carrier streaming at another rate than ours
            self._in_rate, self._in = frame.sample_rate, audio.Resampler(frame.sample_rate, self.sample_rate)
        pcm = self._in.push(audio.decode(frame.data, frame.codec))
        if not pcm:
            return
        if self.tee is not None:
            self.tee("callee", pcm, frame.at)
        frame_ms = audio.duration_ms(pcm, self.sample_rate)
        turn = self.turns.feed(pcm, self.sample_rate)
        heard = self._heard
        if heard is None:
            self._preroll.append(pcm)
            if turn is Turn.STARTED:
                start_at = frame.at + frame_ms - self.turns.speech_ms
                heard = self._heard = _Heard(frame.at + frame_ms * (1 - len(self._preroll)), start_at)
                for kept in self._preroll:
                    heard.frames.put_nowait(kept)
                self._heard_ms = frame_ms * len(self._preroll)
                self._preroll.clear()
                self._emit(SpeechStarted(start_at))
                self._last_heard = self._tasks.spawn(self._transcribe(heard, self._last_heard))
            return
        heard.frames.put_nowait(pcm)
        self._heard_ms += frame_ms
        if turn is Turn.ENDED or self._heard_ms >= self.max_turn_ms:
            ended_at = frame.at + frame_ms - (self.turns.silence_ms if turn is Turn.ENDED else 0)
            heard.end_at = max(ended_at, heard.start_at)
            heard.frames.put_nowait(None)
            self._heard = None
            self._emit(SpeechStopped(frame.at + frame_ms))

    async def _transcribe(self, heard: _Heard, previous: asyncio.Task[None] | None) -> None:
        try:
            if isinstance(self.transcriber, StreamingTranscriber):
                result = await self._stream(self.transcriber, heard)
            else:
                pcm = b"".join([frame async for frame in _until_none(heard.frames)])
                result = await self.transcriber.transcribe(pcm, self.sample_rate, self.voice)
        except Exception as exc:
            self._fail(exc)
            return
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        if result.text:
            words = tuple(
                Word(w.word, heard.audio_at + w.start_ms, heard.audio_at + w.end_ms) for w in result.words
            )
            self._emit(FinalTranscript(result.text, heard.start_at, heard.end_at, words))

    async def _stream(self, transcriber: StreamingTranscriber, heard: _Heard) -> Recognized:
        def partial(text: str) -> None:
            self._emit(PartialTranscript(text, self.clock.now_ms()))

        stream = await transcriber.open(self.sample_rate, self.voice, partial)
        try:
            async for frame in _until_none(heard.frames):
                await stream.send(frame)
            return await stream.finish()
        finally:
            await stream.aclose()


async def _until_none(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (item := await queue.get()) is not None:
        yield item
