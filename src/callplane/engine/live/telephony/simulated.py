"""The simulated telephone line: the default provider, entirely in process, no network.

The line is a `Transport` that speaks text: the callee's utterances arrive as
`SpeechStarted` → `SpeechStopped` → `FinalTranscript`, and the agent's `Speak` chunks are
played out at `AGENT_CHARS_PER_S`, with a `PlaybackMark` when an utterance starts, after each
chunk, and a `done` mark at its end or where `StopSpeaking` or a hang-up cut it. The callee is a
scripted `Scenario` picked by the number dialled (see `scenarios.py`): it hears only what was
played, takes its turn once the agent has finished (after `think_s`), can talk over the agent
(barge-in), press keys, stay silent or hang up.

Speech takes time — the agent speaks `AGENT_CHARS_PER_S` characters a second, the callee its
persona's rate, the phone rings `RING_S` per ring — all divided by `speed` (default 4: demos
finish in seconds; 1 is real-time pacing). Timeouts that belong to the agent (ring timeout,
silence, maximum duration) are not sped up: they are the agent's settings, measured on the
engine's clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol

from callplane.engine.clock import Clock
from callplane.engine.live.session import (
    Carrier,
    CarrierStatus,
    Command,
    Dtmf,
    Event,
    FinalTranscript,
    HangUp,
    HungUp,
    PlaybackMark,
    Speak,
    SpeechStarted,
    SpeechStopped,
    StopSpeaking,
    Transfer,
    Transport,
)
from callplane.engine.live.tasks import Tasks
from callplane.engine.live.telephony.provider import DialRequest
from callplane.engine.live.telephony.scenarios import HANGUP, Answer, Keys, Scenario, ScriptedCallee, pick

RING_S = 3.0
AGENT_CHARS_PER_S = 10.0
KEY_GAP_S = 0.3  #: between two key presses of one reply
_FINAL = {
    Answer.HUMAN: CarrierStatus.ANSWERED,
    Answer.VOICEMAIL: CarrierStatus.MACHINE,
    Answer.BUSY: CarrierStatus.BUSY,
    Answer.DECLINED: CarrierStatus.DECLINED,
    Answer.FAILED: CarrierStatus.FAILED,
}


class AudioDialer(Protocol):
    """Places a simulated call as audio (`simulated_audio.SimulatedAudio`)."""

    def dial(self, request: DialRequest, scenario: Scenario, clock: Clock, speed: float) -> Transport: ...


class SimulatedProvider:
    name = "simulated"

    def __init__(
        self,
        scenarios: tuple[Scenario, ...],
        clock: Clock,
        *,
        speed: float = 4.0,
        audio: AudioDialer | None = None,
        audio_by_default: bool = False,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.scenarios = scenarios
        self.clock = clock
        self.speed = speed
        self.audio = audio
        self.audio_by_default = audio_by_default

    async def dial(self, request: DialRequest) -> Transport:
        scenario = pick(self.scenarios, request.to_number)
        if scenario.audio if scenario.audio is not None else self.audio_by_default:
            if self.audio is None:
                raise ValueError(
                    f"scenario {scenario.name!r} talks in audio, but no speech engines are set up"
                )
            return self.audio.dial(request, scenario, self.clock, self.speed)
        line = SimulatedLine(request, scenario, self.clock, self.speed)
        line.start()
        return line

    async def hang_up_orphan(self, telephony_id: str) -> None:
        """A simulated line dies with its process: nothing outlives the worker."""

    async def aclose(self) -> None:
        pass


@dataclass
class _Utterance:
    id: str
    turn: int  #: 1 for the agent's first utterance of the call
    text: str = ""
    marks: list[int] = field(default_factory=list)  #: chunk ends: a mark after each
    played: int = 0
    started: bool = False
    ended: bool = False


class SimulatedLine:
    def __init__(self, request: DialRequest, scenario: Scenario, clock: Clock, speed: float) -> None:
        self.request = request
        self.scenario = scenario
        self.callee = ScriptedCallee(scenario.persona)
        self.clock = clock
        self.speed = speed
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._tasks = Tasks()
        self._closed = False
        # The agent's speech, in the order it plays; the first one is playing (or waiting for chunks).
        self._queue: list[_Utterance] = []
        self._cleared: set[str] = set()
        self._turns = 0
        self._more = asyncio.Event()  #: new chunks for the playout
        self._player: asyncio.Task[None] | None = None
        self._chunk_began: float | None = None  #: loop time the playing chunk began
        # Turn-taking: the agent's turn number the callee last answered, and whether it talks now.
        self._answered_turn = 0
        self._callee_talking = False
        self._on_hold = False
        self._turn_changed = asyncio.Event()

    @property
    def telephony_id(self) -> str:
        return f"sim-{self.request.call_id}-{self.request.attempt}"

    # --- the Transport ---------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks.spawn(self._ring())

    async def receive(self) -> Event:
        return await self._events.get()

    async def send(self, command: Command) -> None:
        if self._closed:
            return
        if isinstance(command, Speak):
            self._speak(command)
        elif isinstance(command, StopSpeaking):
            self._stop_playout()
        elif isinstance(command, Transfer):
            self._tasks.spawn(self._transfer())
        elif isinstance(command, HangUp):
            self._close()

    # --- carrier ---------------------------------------------------------------------------------

    async def _ring(self) -> None:
        scenario = self.scenario
        if scenario.answer is Answer.FAILED and scenario.rings == 0:
            self._emit(Carrier(CarrierStatus.FAILED, self._now()))
            return
        self._emit(Carrier(CarrierStatus.RINGING, self._now()))
        ringing_for = scenario.rings * RING_S / self.speed
        if scenario.answer is Answer.NO_ANSWER or ringing_for > self.request.ring_timeout_s:
            await asyncio.sleep(self.request.ring_timeout_s)
            self._emit(Carrier(CarrierStatus.NO_ANSWER, self._now()))
            return
        await asyncio.sleep(ringing_for)
        status = _FINAL[scenario.answer]
        self._emit(Carrier(status, self._now()))
        if status is CarrierStatus.MACHINE:
            await self._talk(self.callee.persona.voicemail_greeting)
        elif status is CarrierStatus.ANSWERED:
            await self._converse()

    async def _transfer(self) -> None:
        self._on_hold = True  # the callee waits for the transfer instead of taking a turn
        await self._pause(1.0)
        self._on_hold = False
        self._nudge()
        if self.callee.persona.transfer_accepted:
            self._emit(Carrier(CarrierStatus.TRANSFERRED, self._now()))
            self._close()
        else:
            self._emit(Carrier(CarrierStatus.TRANSFER_FAILED, self._now()))

    # --- the callee ------------------------------------------------------------------------------

    async def _converse(self) -> None:
        """Take a turn whenever the agent has finished one: think, then answer (or not)."""
        while True:
            self._turn_changed.clear()
            turn = self._turns
            if self._busy() or turn == self._answered_turn:
                await self._turn_changed.wait()
                continue
            await self._pause(self.callee.persona.think_s)
            if self._busy() or self._turns != turn:
                continue  # the agent spoke again (a re-prompt) while the callee thought
            await self._answer(turn)

    def _busy(self) -> bool:
        """The agent is speaking, the callee is, or the callee is on hold."""
        return bool(self._queue) or self._callee_talking or self._on_hold

    async def _answer(self, turn: int) -> None:
        self._answered_turn = turn
        reply = self.callee.next_reply()
        if reply is HANGUP:
            self._hang_up()
        elif isinstance(reply, Keys):
            for i, digit in enumerate(reply.digits):
                if i:
                    await self._pause(KEY_GAP_S)
                self._emit(Dtmf(digit, self._now()))
        elif reply is not None:
            await self._talk(reply)

    async def _talk(self, text: str) -> None:
        self._callee_talking = True
        start = self._now()
        self._emit(SpeechStarted(start))
        await self._pause(len(text) / self.callee.persona.chars_per_s)
        end = self._now()
        self._callee_talking = False
        self._emit(SpeechStopped(end))
        self._emit(FinalTranscript(text, start, end))
        self._nudge()

    async def _barge_in(self, utterance: _Utterance) -> None:
        await self._pause(self.callee.persona.interrupt_after_s)
        if self._queue and self._queue[0] is utterance and not self._callee_talking:
            await self._answer(utterance.turn)

    async def _hang_up_halfway(self, utterance: _Utterance) -> None:
        await self._pause(len(utterance.text) / AGENT_CHARS_PER_S / 2)
        self._hang_up()

    def _hang_up(self) -> None:
        self._stop_playout()
        self._emit(HungUp(self._now()))
        self._close()

    # --- the agent's speech, played out ----------------------------------------------------------

    def _speak(self, command: Speak) -> None:
        if command.utterance_id in self._cleared:
            return  # stopped already: late chunks are not played
        utterance = next((u for u in self._queue if u.id == command.utterance_id), None)
        if utterance is None:
            self._turns += 1
            utterance = _Utterance(command.utterance_id, self._turns)
            self._queue.append(utterance)
            self._nudge()
        if command.text:
            utterance.text += command.text
            utterance.marks.append(len(utterance.text))
        utterance.ended = utterance.ended or command.end
        self._more.set()
        if self._player is None or self._player.done():
            self._player = self._tasks.spawn(self._play())

    async def _play(self) -> None:
        while self._queue:
            utterance = self._queue[0]
            pending = [m for m in utterance.marks if m > utterance.played]
            if pending:
                if not utterance.started:
                    self._started(utterance)
                self._chunk_began = asyncio.get_running_loop().time()
                await self._pause((pending[0] - utterance.played) / AGENT_CHARS_PER_S)
                self._chunk_began = None
                self._heard(utterance, pending[0])
                self._emit(PlaybackMark(utterance.id, utterance.played, self._now()))
            elif utterance.ended:
                self._queue.pop(0)
                self._emit(PlaybackMark(utterance.id, utterance.played, self._now(), done=True))
                self._nudge()
            else:
                self._more.clear()
                await self._more.wait()

    def _started(self, utterance: _Utterance) -> None:
        utterance.started = True
        self._emit(PlaybackMark(utterance.id, 0, self._now()))
        persona = self.callee.persona
        if persona.hangup_during_agent_turn == utterance.turn:
            self._tasks.spawn(self._hang_up_halfway(utterance))
        if persona.interrupt_agent_turn == utterance.turn:
            self._tasks.spawn(self._barge_in(utterance))

    def _heard(self, utterance: _Utterance, upto: int) -> None:
        self.callee.hear(utterance.text[utterance.played : upto])
        utterance.played = upto

    def _stop_playout(self) -> None:
        """Cut the agent off now: the playing utterance ends where it is, queued ones unheard."""
        if self._player is not None:
            self._player.cancel()
            self._player = None
        if self._queue and self._chunk_began is not None:  # mid-chunk: count what was spoken
            playing = self._queue[0]
            elapsed = asyncio.get_running_loop().time() - self._chunk_began
            spoken = int(elapsed * AGENT_CHARS_PER_S * self.speed + 1e-6)
            self._heard(playing, min(len(playing.text), playing.played + spoken))
        self._chunk_began = None
        now = self._now()
        for utterance in self._queue:
            self._cleared.add(utterance.id)
            self._emit(PlaybackMark(utterance.id, utterance.played, now, done=True))
        self._queue.clear()
        self._nudge()

    # --- plumbing --------------------------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    def _nudge(self) -> None:
        self._turn_changed.set()

    def _now(self) -> int:
        return self.clock.now_ms()

    async def _pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.speed)

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._tasks.cancel()  # the calling task too, if it is ours: it stops at its next await
