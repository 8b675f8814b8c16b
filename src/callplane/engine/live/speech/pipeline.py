"""The speech pipeline: a text-level `Transport` on top of a raw audio one.

Callee → agent: every `AudioFrame` is decoded to PCM16, fed to the turn detector and kept (with a
short pre-roll, so the first syllable is not lost to the detector's start delay); a turn's start
is `SpeechStarted`, its end `SpeechStopped`, and its audio goes to the transcriber, whose text
comes back as a `FinalTranscript` (in order, even when transcription is slower than speech). A
streaming transcriber gets the turn's frames as they arrive and reports `PartialTranscript`s.

Agent → callee: `Speak` chunks are synthesized one after another by a single worker, resampled,
encoded and sent as 20 ms `PlayAudio` frames, with a `Mark` every `mark_every_ms` of audio and at
each chunk's end. When the raw transport says a mark's audio has played, the pipeline reports a
`PlaybackMark` with the characters heard — exact at a chunk's end, estimated in between from the
share of the chunk's audio played. `StopSpeaking` drops the queue, stops synthesis and sends
`ClearAudio`; the utterances it cut end (`done`) at their last mark played. Marks the raw transport
returns for cleared audio are ignored: they were dropped, not heard.

Engines never block the loop (the offline ones run in threads), and nothing here touches the
database. `tee` sees every frame in both directions, for a recorder.
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
    AudioMarked,
    ClearAudio,
    Codec,
    Command,
    Event,
    FinalTranscript,
    HangUp,
    HungUp,
    Mark,
    PartialTranscript,
    PlayAudio,
    PlaybackMark,
    RawEvent,
    RawTransport,
    Speak,
    SpeechStarted,
    SpeechStopped,
    StopSpeaking,
    Transfer,
    Word,
)
from callplane.engine.live.speech import audio
from callplane.engine.live.speech.protocols import (
    Recognized,
    StreamingTranscriber,
    Synthesizer,
    Transcriber,
    Turn,
    TurnDetector,
    Voice,
)
from callplane.engine.live.tasks import Tasks

_BRISK_CHARS_PER_S = 15  #: faster than speech synthesizers talk, Korean or English

#: (channel, PCM16 at the line's rate, Unix ms): "callee" frames as they arrive, "agent" as sent,
#: and "cleared" (no audio) when the agent's audio not yet played was dropped (barge-in).
Tee = Callable[[str, bytes, int], None]


@dataclass
class _Heard:
    """One callee turn on its way to text: its frames arrive while it is transcribed."""

    audio_at: int  #: Unix ms of its first sample (pre-roll included)
    start_at: int
    end_at: int = 0
    frames: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)  # None: turn over


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


class SpeechPipeline:
    def __init__(
        self,
        raw: RawTransport,
        clock: Clock,
        *,
        synthesizer: Synthesizer,
        transcriber: Transcriber,
        turns: TurnDetector,
        voice: Voice,
        codec: Codec = Codec.MULAW,
        sample_rate: int = 8000,
        mark_every_ms: int = 200,
        preroll_ms: int = 300,
        max_turn_ms: int = 30_000,
        tee: Tee | None = None,
    ) -> None:
        self.raw = raw
        self.clock = clock
        self.synthesizer = synthesizer
        self.transcriber = transcriber
        self.turns = turns
        self.voice = voice
        self.codec = codec
        self.sample_rate = sample_rate
        self.mark_every_ms = mark_every_ms
        self.max_turn_ms = max_turn_ms
        self.tee = tee
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()  # None: `_failure` is set
        self._failure: BaseException | None = None
        self._tasks = Tasks()
        self._started = False
        self._closed = False
        # Inbound.
        self._preroll: deque[bytes] = deque(maxlen=max(1, preroll_ms // audio.FRAME_MS))
        self._in_rate = sample_rate
        self._in = audio.Resampler(sample_rate, sample_rate)
        self._heard: _Heard | None = None  #: the callee's turn in progress
        self._heard_ms = 0
        self._last_heard: asyncio.Task[None] | None = None  #: finals are reported in turn order
        # Outbound.
        self._speech: asyncio.Queue[Speak] = asyncio.Queue()
        self._outgoing: dict[str, _Outgoing] = {}
        self._cleared: set[str] = set()
        self._marks: dict[str, _MarkRef] = {}
        self._mark_seq = 0
        self._synthesizing: asyncio.Task[None] | None = None

    @property
    def telephony_id(self) -> str:
        return self.raw.telephony_id

    # --- the Transport ---------------------------------------------------------------------------

    async def receive(self) -> Event:
        self._start()
        event = await self._events.get()
        if event is None:
            assert self._failure is not None
            raise self._failure
        return event

    async def send(self, command: Command) -> None:
        self._start()
        if isinstance(command, HangUp):  # harmless twice, or after the callee hung up
            self._close()
            await self.raw.send(command)
            await self.aclose()
            return
        if self._closed:
            return
        if isinstance(command, Speak):
            if command.utterance_id not in self._cleared:
                # Known from its first chunk on, so a clear that comes first still ends it.
                self._outgoing.setdefault(command.utterance_id, _Outgoing(command.utterance_id))
                self._speech.put_nowait(command)
        elif isinstance(command, StopSpeaking):
            await self._stop_speaking()
        elif isinstance(command, Transfer):
            await self.raw.send(command)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._tasks.spawn(self._read())
            self._tasks.spawn(self._speak_queue())

    # --- callee → agent --------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while not self._closed:
                self._on(await self.raw.receive())
        except Exception as exc:  # the carrier's stream broke: the call cannot go on
            self._fail(exc)

    def _on(self, event: RawEvent) -> None:
        if isinstance(event, AudioFrame):
            self._hear(event)
        elif isinstance(event, AudioMarked):
            self._marked(event)
        elif isinstance(event, HungUp):
            self._cut_all(event.at)
            self._emit(event)
            self._close()
        else:
            self._emit(event)

    def _hear(self, frame: AudioFrame) -> None:
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

    # --- agent → callee --------------------------------------------------------------------------

    async def _speak_queue(self) -> None:
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

    def _marked(self, event: AudioMarked) -> None:
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

    async def _stop_speaking(self) -> None:
        while not self._speech.empty():
            self._speech.get_nowait()
        if self._synthesizing is not None:
            self._synthesizing.cancel()
        await self.raw.send(ClearAudio())
        if self.tee is not None:
            self.tee("cleared", b"", self.clock.now_ms())
        self._cut_all(self.clock.now_ms())

    def _cut_all(self, at: int) -> None:
        """Every utterance not finished ends where it is (a clear, a hang-up)."""
        for out in self._outgoing.values():
            self._cleared.add(out.id)
            out.done = True
            self._emit(PlaybackMark(out.id, out.played, at, done=True))
        self._outgoing.clear()
        # Their marks may never come back (not every carrier returns marks on a clear).
        self._marks = {name: ref for name, ref in self._marks.items() if not ref.utterance.done}

    # --- plumbing --------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    def _fail(self, exc: BaseException) -> None:
        if self._failure is None and not self._closed:
            self._failure = exc
            self._events.put_nowait(None)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._tasks.cancel(spare_current=True)
        if self._synthesizing is not None:
            self._synthesizing.cancel()

    async def aclose(self) -> None:
        """Stop every task of the session and wait until they have stopped."""
        self._close()
        await self._tasks.wait()


async def _until_none(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while (item := await queue.get()) is not None:
        yield item
