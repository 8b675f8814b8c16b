"""Agent → callee: `Speak` chunks turned into paced audio frames, and marks into what was heard.

`Speak` chunks are synthesized one after another by a single worker, resampled, encoded and sent
as 20 ms `PlayAudio` frames, with a `Mark` every `mark_every_ms` of audio and at each chunk's end.
When the raw transport says a mark's audio has played, a `PlaybackMark` reports the characters
heard — exact at a chunk's end, estimated in between from the share of the chunk's audio played.
`stop` drops the queue, stops synthesis and sends `ClearAudio`; the utterances it cut end
(`done`) at their last mark played. Marks the raw transport returns for cleared audio are
ignored: they were dropped, not heard.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from callplane.engine.clock import Clock
from callplane.engine.live.session import (
    AudioMarked,
    ClearAudio,
    Codec,
    Event,
    Mark,
    PlayAudio,
    PlaybackMark,
    RawTransport,
    Speak,
)
from callplane.engine.live.speech import audio
from callplane.engine.live.speech.protocols import Synthesizer, Voice

_BRISK_CHARS_PER_S = 15  #: faster than speech synthesizers talk, Korean or English

#: (channel, PCM16 at the line's rate, Unix ms): "callee" frames as they arrive, "agent" as sent,
#: and "cleared" (no audio) when the agent's audio not yet played was dropped (barge-in).
Tee = Callable[[str, bytes, int], None]


@dataclass
class _Chunk:
    base: int  #: characters of the utterance before this chunk
    length: int
    audio_ms: int = 0  #: sent so far; final once `finished`
    finished: bool = False

    def chars_at(self, ms: int) -> int:
        """Characters heard once `ms` of this chunk's audio played: its share of the chunk's
        audio. While synthesis still streams, the total is not known yet, so it is at least what
        the text takes at a brisk speaking rate (else all audio so far would count as all text)."""
        if self.finished and ms >= self.audio_ms:
            return self.base + self.length
        total = (
            self.audio_ms if self.finished else max(self.audio_ms, self.length * 1000 / _BRISK_CHARS_PER_S)
        )
        return self.base + min(self.length - 1, int(self.length * ms / max(total, 1)))


@dataclass
class _Outgoing:
    id: str
    chars: int = 0  #: characters received in `Speak` chunks
    played: int = 0
    started: bool = False
    done: bool = False


@dataclass(frozen=True, slots=True)
class _MarkRef:
    utterance: _Outgoing
    chunk: _Chunk | None  #: None: the utterance's start (played 0) or end (done)
    at_ms: int = 0
    done: bool = False


class Playout:
    """The outbound half of a `SpeechPipeline`; `emit` and `fail` are the pipeline's."""

    def __init__(
        self,
        raw: RawTransport,
        clock: Clock,
        *,
        synthesizer: Synthesizer,
        voice: Voice,
        codec: Codec,
        sample_rate: int,
        mark_every_ms: int,
        emit: Callable[[Event], None],
        fail: Callable[[BaseException], None],
    ) -> None:
        self.raw = raw
        self.clock = clock
        self.synthesizer = synthesizer
        self.voice = voice
        self.codec = codec
        self.sample_rate = sample_rate
        self.mark_every_ms = mark_every_ms
        self.tee: Tee | None = None
        self._emit = emit
        self._fail = fail
        self._closed = False
        self._speech: asyncio.Queue[Speak] = asyncio.Queue()
        self._outgoing: dict[str, _Outgoing] = {}
        self._cleared: set[str] = set()
        self._marks: dict[str, _MarkRef] = {}
        self._mark_seq = 0
        self._synthesizing: asyncio.Task[None] | None = None

    def speak(self, command: Speak) -> None:
        if command.utterance_id not in self._cleared:
            # Known from its first chunk on, so a clear that comes first still ends it.
            self._outgoing.setdefault(command.utterance_id, _Outgoing(command.utterance_id))
            self._speech.put_nowait(command)

    async def run(self) -> None:
        """The single synthesis worker: one `Speak` chunk at a time, in order."""
        while True:
            command = await self._speech.get()
            if command.utterance_id in self._cleared:
                continue
            self._synthesizing = asyncio.get_running_loop().create_task(self._speak(command))
            try:
                await self._synthesizing
            except asyncio.CancelledError:
                if self._synthesizing.cancelled() and not self._closed:
                    continue  # a `StopSpeaking` cut it; go on with what comes next
                raise
            except Exception as exc:
                self._fail(exc)
                return
            finally:
                self._synthesizing = None

    async def _speak(self, command: Speak) -> None:
        out = self._outgoing[command.utterance_id]
        if not out.started:
            out.started = True
            await self._mark(_MarkRef(out, None))
        if command.text:
            await self._synthesize(out, command.text)
        if command.end:
            await self._mark(_MarkRef(out, None, done=True))

    async def _synthesize(self, out: _Outgoing, text: str) -> None:
        chunk = _Chunk(out.chars, len(text))
        out.chars += len(text)
        frame = audio.frame_bytes(self.sample_rate)
        pending = b""
        next_mark = self.mark_every_ms
        resampler: audio.Resampler | None = None
        rate = 0
        async for piece in self.synthesizer.synthesize(text, self.voice):
            if resampler is None or piece.sample_rate != rate:
                if resampler is not None:
                    pending += resampler.push(b"", last=True)
                resampler, rate = audio.Resampler(piece.sample_rate, self.sample_rate), piece.sample_rate
            pending += resampler.push(piece.pcm)
            while len(pending) >= frame:
                await self._play(pending[:frame])
                pending = pending[frame:]
                chunk.audio_ms += audio.FRAME_MS
                if chunk.audio_ms >= next_mark:
                    await self._mark(_MarkRef(out, chunk, chunk.audio_ms))
                    next_mark += self.mark_every_ms
        if resampler is not None:
            pending += resampler.push(b"", last=True)
        for start in range(0, len(pending), frame):
            tail = pending[start : start + frame]
            await self._play(tail + bytes(frame - len(tail)))
            chunk.audio_ms += audio.FRAME_MS
        chunk.finished = True
        await self._mark(_MarkRef(out, chunk, chunk.audio_ms))

    async def _play(self, pcm: bytes) -> None:
        if self.tee is not None:
            self.tee("agent", pcm, self.clock.now_ms())
        await self.raw.send(PlayAudio(audio.encode(pcm, self.codec), self.codec, self.sample_rate))

    async def _mark(self, ref: _MarkRef) -> None:
        self._mark_seq += 1
        name = f"{ref.utterance.id}#{self._mark_seq}"
        self._marks[name] = ref
        await self.raw.send(Mark(name))

    def marked(self, event: AudioMarked) -> None:
        ref = self._marks.pop(event.name, None)
        if ref is None or ref.utterance.id in self._cleared or ref.utterance.done:
            return  # dropped by a clear (a raw transport returns those marks too), or unknown
        out = ref.utterance
        if ref.chunk is not None:
            out.played = max(out.played, ref.chunk.chars_at(ref.at_ms))
        if ref.done:
            out.done = True
            del self._outgoing[out.id]
        self._emit(PlaybackMark(out.id, out.played, event.at, done=ref.done))

    async def stop(self) -> None:
        while not self._speech.empty():
            self._speech.get_nowait()
        if self._synthesizing is not None:
            self._synthesizing.cancel()
        await self.raw.send(ClearAudio())
        if self.tee is not None:
            self.tee("cleared", b"", self.clock.now_ms())
        self.cut_all(self.clock.now_ms())

    def cut_all(self, at: int) -> None:
        """Every utterance not finished ends where it is (a clear, a hang-up)."""
        for out in self._outgoing.values():
            self._cleared.add(out.id)
            out.done = True
            self._emit(PlaybackMark(out.id, out.played, at, done=True))
        self._outgoing.clear()
        # Their marks may never come back (not every carrier returns marks on a clear).
        self._marks = {name: ref for name, ref in self._marks.items() if not ref.utterance.done}

    def close(self) -> None:
        self._closed = True
        if self._synthesizing is not None:
            self._synthesizing.cancel()
