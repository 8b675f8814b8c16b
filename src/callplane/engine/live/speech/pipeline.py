"""The speech pipeline: a text-level `Transport` on top of a raw audio one.

Two halves share its event queue: `Hearing` (callee → agent: frames → turns → transcripts,
hearing.py) and `Playout` (agent → callee: `Speak` → synthesized frames and marks → what was
heard, playout.py). This module routes the raw transport's events and the conversation's
commands between them.

Engines never block the loop (the offline ones run in threads), and nothing here touches the
database. `tee` sees every frame in both directions, for a recorder.
"""

from __future__ import annotations

import asyncio

from callplane.engine.clock import Clock
from callplane.engine.live.session import (
    AudioFrame,
    AudioMarked,
    Codec,
    Command,
    Event,
    HangUp,
    HungUp,
    RawEvent,
    RawTransport,
    Speak,
    StopSpeaking,
    Transfer,
)
from callplane.engine.live.speech.hearing import Hearing
from callplane.engine.live.speech.playout import Playout, Tee
from callplane.engine.live.speech.protocols import Synthesizer, Transcriber, TurnDetector, Voice
from callplane.engine.live.tasks import Tasks

__all__ = ["SpeechPipeline", "Tee"]


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
        self.voice = voice
        self.sample_rate = sample_rate
        self._events: asyncio.Queue[Event | None] = asyncio.Queue()  # None: `_failure` is set
        self._failure: BaseException | None = None
        self._tasks = Tasks()
        self._started = False
        self._closed = False
        self.hearing = Hearing(
            clock,
            transcriber=transcriber,
            turns=turns,
            voice=voice,
            sample_rate=sample_rate,
            preroll_ms=preroll_ms,
            max_turn_ms=max_turn_ms,
            emit=self._emit,
            fail=self._fail,
            tasks=self._tasks,
        )
        self.playout = Playout(
            raw,
            clock,
            synthesizer=synthesizer,
            voice=voice,
            codec=codec,
            sample_rate=sample_rate,
            mark_every_ms=mark_every_ms,
            emit=self._emit,
            fail=self._fail,
        )
        self.tee = tee

    @property
    def telephony_id(self) -> str:
        return self.raw.telephony_id

    @property
    def tee(self) -> Tee | None:
        return self.playout.tee

    @tee.setter
    def tee(self, tee: Tee | None) -> None:
        """Set (or replace) at any time: both halves report their frames to it from then on."""
        self.hearing.tee = self.playout.tee = tee

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
            self.playout.speak(command)
        elif isinstance(command, StopSpeaking):
            await self.playout.stop()
        elif isinstance(command, Transfer):
            await self.raw.send(command)

    def _start(self) -> None:
        if not self._started:
            self._started = True
            self._tasks.spawn(self._read())
            self._tasks.spawn(self.playout.run())

    async def _read(self) -> None:
        try:
            while not self._closed:
                self._on(await self.raw.receive())
        except Exception as exc:  # the carrier's stream broke: the call cannot go on
            self._fail(exc)

    def _on(self, event: RawEvent) -> None:
        if isinstance(event, AudioFrame):
            self.hearing.hear(event)
        elif isinstance(event, AudioMarked):
            self.playout.marked(event)
        elif isinstance(event, HungUp):
            self.playout.cut_all(event.at)
            self._emit(event)
            self._close()
        else:
            self._emit(event)

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
        self.playout.close()

    async def aclose(self) -> None:
        """Stop every task of the session and wait until they have stopped."""
        self._close()
        await self._tasks.wait()
