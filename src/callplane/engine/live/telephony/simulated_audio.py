"""The simulated line as audio: the scripted callee speaks and listens through speech engines.

A `RawTransport` (see `live/session.py`): like a carrier's media stream it sends a 20 ms μ-law
frame every 20 ms of (sped-up) time — silence unless the callee speaks — and plays the agent's
`PlayAudio` frames on a playout clock, answering each `Mark` when the audio before it has played
and returning the pending marks at once on `ClearAudio`. The callee's replies are synthesized into
its microphone; what it hears of the agent (only what was played) goes through a transcriber
before its script decides what to say. Ringing, turn-taking, barge-in, key presses, transfers and
hang-ups are the text line's (`simulated.py`); an agent "turn" here is a burst of agent audio
after the line was quiet, which is what a person on the phone perceives too.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from callplane.domain.voice import VoiceSpec
from callplane.engine.clock import Clock
from callplane.engine.live.session import (
    AudioFrame,
    AudioMarked,
    Carrier,
    CarrierStatus,
    ClearAudio,
    Codec,
    Dtmf,
    Event,
    HangUp,
    HungUp,
    Mark,
    PlayAudio,
    RawCommand,
    RawEvent,
    Transfer,
    Transport,
)
from callplane.engine.live.speech import audio
from callplane.engine.live.speech.protocols import Synthesizer, Transcriber, Voice
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.scenarios import Scenario
from callplane.engine.live.telephony.simulated import SimulatedLine

RATE = 8000
AGENT_PAUSE_S = 0.3  #: silence after which the callee takes the agent's turn as over
_RAW_EVENTS = (Carrier, AudioFrame, AudioMarked, Dtmf, HungUp)


@dataclass(frozen=True, slots=True)
class CalleeEars:
    """The engines the simulated callee speaks and listens with."""

    synthesizer: Synthesizer
    transcriber: Transcriber
    voice: Voice


class SimulatedAudio:
    """Simulated calls as audio: the callee's line wrapped in the agent's speech pipeline.

    The callee speaks and hears with the deployment's default engines (so with an
    OpenAI-compatible endpoint configured, both sides' speech goes through it); the agent's side
    uses the engines its version asks for."""

    def __init__(self, stack: SpeechStack) -> None:
        self.stack = stack

    def dial(self, request: DialRequest, scenario: Scenario, clock: Clock, speed: float) -> Transport:
        synthesizer, transcriber, voice = self.stack.engines(VoiceSpec(language=request.voice.language))
        line = SimulatedAudioLine(
            request, scenario, clock, speed, CalleeEars(synthesizer, transcriber, voice)
        )
        line.start()
        return self.stack.pipeline(line, clock, request.voice, request.tee)


class SimulatedAudioLine(SimulatedLine):
    def __init__(
        self, request: DialRequest, scenario: Scenario, clock: Clock, speed: float, ears: CalleeEars
    ) -> None:
        super().__init__(request, scenario, clock, speed)
        self.ears = ears
        self._mic = bytearray()  #: the callee's speech not yet sent, PCM16
        self._mic_drained = asyncio.Event()
        self._playout: deque[bytes | str] = deque()  #: agent frames (PCM16) and mark names
        self._raw_events: asyncio.Queue[Event | AudioMarked] = asyncio.Queue()
        self._heard_audio = bytearray()  #: agent audio played since the callee last listened
        self._hearing: asyncio.Task[None] | None = None
        self._agent_turn_ms = 0  #: audio queued for the agent's current turn
        self._agent_talking = False
        self._bursts = 0  #: playout runs started, to tell a pause from the end of a turn

    async def receive(self) -> RawEvent:  # type: ignore[override]
        event = await self._raw_events.get()
        # The text line's own speech events come from methods this class replaces.
        assert isinstance(event, _RAW_EVENTS), event
        return event

    def _emit(self, event: Event | AudioMarked) -> None:
        if self._closed:
            return
        self._raw_events.put_nowait(event)
        if isinstance(event, Carrier) and event.status in (CarrierStatus.ANSWERED, CarrierStatus.MACHINE):
            self._tasks.spawn(self._microphone())

    async def send(self, command: RawCommand) -> None:  # type: ignore[override]
        if self._closed:
            return
        if isinstance(command, PlayAudio):
            pcm = audio.resample(audio.decode(command.data, command.codec), command.sample_rate, RATE)
            if not self._agent_talking:
                self._agent_starts()
            self._agent_turn_ms += audio.duration_ms(pcm, RATE)
            self._playout.append(pcm)
            self._wake_player()
        elif isinstance(command, Mark):
            if not self._playout and self._player is None:
                self._emit(AudioMarked(command.name, self._now()))  # nothing pending: played
            else:
                self._playout.append(command.name)
                self._wake_player()
        elif isinstance(command, ClearAudio):
            self._stop_playout()
        elif isinstance(command, Transfer):
            self._tasks.spawn(self._transfer())
        elif isinstance(command, HangUp):
            self._close()

    # --- the callee's microphone -----------------------------------------------------------------

    async def _microphone(self) -> None:
        """A frame every 20 ms from the answer on, as a carrier streams; paced on an absolute
        schedule so sleeps do not drift."""
        loop = asyncio.get_running_loop()
        step = audio.FRAME_MS / 1000 / self.speed
        size = audio.frame_bytes(RATE)
        due = loop.time()
        while True:
            pcm = bytes(self._mic[:size])
            del self._mic[:size]
            if not self._mic:
                self._mic_drained.set()
            pcm += bytes(size - len(pcm))
            self._emit(AudioFrame(audio.pcm16_to_mulaw(pcm), Codec.MULAW, RATE, self._now()))
            due += step
            await asyncio.sleep(max(0.0, due - loop.time()))

    async def _talk(self, text: str) -> None:
        self._callee_talking = True
        self._mic_drained.clear()
        resampler: audio.Resampler | None = None
        async for chunk in self.ears.synthesizer.synthesize(text, self.ears.voice):
            resampler = resampler or audio.Resampler(chunk.sample_rate, RATE)
            self._mic += resampler.push(chunk.pcm)
        if resampler is not None:
            self._mic += resampler.push(b"", last=True)
        await self._mic_drained.wait()
        self._callee_talking = False
        self._nudge()

    # --- hearing the agent -----------------------------------------------------------------------

    def _busy(self) -> bool:
        return self._agent_talking or self._callee_talking or self._on_hold

    def _agent_starts(self) -> None:
        self._agent_talking = True
        self._turns += 1
        self._agent_turn_ms = 0
        self._nudge()
        persona = self.callee.persona
        if persona.hangup_during_agent_turn == self._turns:
            self._tasks.spawn(self._hang_up_mid_turn())
        if persona.interrupt_agent_turn == self._turns:
            self._tasks.spawn(self._interrupt(self._turns))

    async def _hang_up_mid_turn(self) -> None:
        await asyncio.sleep(0)  # let the rest of the turn's audio arrive
        await self._pause(self._agent_turn_ms / 1000 / 2)
        self._hang_up()

    async def _interrupt(self, turn: int) -> None:
        await self._pause(self.callee.persona.interrupt_after_s)
        if self._turns == turn and self._busy() and not self._callee_talking:
            await self._answer(turn)

    def _wake_player(self) -> None:
        if self._player is None:
            self._player = self._tasks.spawn(self._play())

    async def _play(self) -> None:
        self._bursts += 1
        burst = self._bursts
        while self._playout:
            item = self._playout.popleft()
            if isinstance(item, str):
                self._emit(AudioMarked(item, self._now()))
                continue
            await self._pause(audio.duration_ms(item, RATE) / 1000)
            self._heard_audio += item
        self._player = None
        # A person takes a gap of a few hundred ms as a pause, not the end of the agent's turn:
        # streamed synthesis can leave such gaps between its pieces.
        await self._pause(AGENT_PAUSE_S)
        if self._bursts == burst:  # no audio came in the pause
            self._agent_done()

    def _agent_done(self) -> None:
        self._agent_talking = False
        self._listen()
        self._nudge()

    def _stop_playout(self, *, return_marks: bool = True) -> None:
        if self._player is not None:
            self._player.cancel()
            self._player = None
        now = self._now()
        for item in self._playout:
            if isinstance(item, str) and return_marks:
                self._emit(AudioMarked(item, now))  # as Twilio does on `clear`: pending marks come back
        self._playout.clear()
        self._agent_done()

    def _hang_up(self) -> None:
        self._stop_playout(return_marks=False)  # a hung-up line says nothing more about playback
        self._emit(HungUp(self._now()))
        self._close()

    def _listen(self) -> None:
        """Transcribe what was heard of the agent's turn; the callee's next answer waits on it."""
        heard, self._heard_audio = bytes(self._heard_audio), bytearray()
        if heard:
            previous = self._hearing

            async def hear() -> None:
                if previous is not None:
                    await previous
                result = await self.ears.transcriber.transcribe(heard, RATE, self.ears.voice)
                self.callee.hear(result.text)

            self._hearing = self._tasks.spawn(hear())

    async def _answer(self, turn: int) -> None:
        if self._hearing is not None:
            await self._hearing
        await super()._answer(turn)
