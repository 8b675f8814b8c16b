"""One live conversation as the agent runtimes see it: speak, hear, use tools, keep the record.

`Conversation` sits on a session `Transport` (`live/session.py`). A pump task reads every event
as it arrives, so the callee is heard while the agent speaks, thinks or waits on a tool:

- what the agent said is recorded as what the callee heard — from playback marks, not from what
  was sent: an utterance cut by a hang-up or a barge-in keeps exactly its played part;
- **barge-in**: the callee starting to speak while the agent's speech plays stops it at once
  (`StopSpeaking`); the interrupted utterance is marked so (a streaming runtime stops feeding
  it), and the callee's words are the next thing `hear()` returns — the call goes on;
- the callee's final transcripts and DTMF keys queue up as inputs, in the order they came;
- `hear()` owns the inactivity policy: it re-prompts after each silence (time without the
  callee starting to speak, counted from when it is called) and ends the call with `inactivity`
  once the re-prompts are used up.

DTMF: each key press is one input, its digit the input's text (so a flow edge `contains: "1"`
or a condition on the answer matches it, and an LLM sees the digit as the user's message); it is
recorded as a user utterance whose content is the digit.

The record is reported as it grows: `progress` (when given) gets a copy of the transcript and
the collected values whenever an entry is added, an agent utterance finishes playing, or values
are collected — so a call cut short by its worker keeps what was said (the worker stores it).

Ending is signalled by exceptions, so a runtime's code reads as the conversation it holds:
`CallerHungUp` when the callee leaves, `EndCall` when the agent (or a rule) ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from callplane.domain.call import DisconnectionReason, TranscriptEntry
from callplane.engine.clock import Clock
from callplane.engine.live.session import (
    Carrier,
    CarrierStatus,
    Dtmf,
    Event,
    FinalTranscript,
    HungUp,
    PlaybackMark,
    Speak,
    SpeechStarted,
    SpeechStopped,
    StopSpeaking,
    Transfer,
    Transport,
    Word,
)

log = logging.getLogger(__name__)

DEFAULT_REPROMPT = "여보세요, 제 말씀 들리시나요?"


@dataclass(frozen=True, slots=True)
class Ending:
    reason: DisconnectionReason
    detail: str | None = None


class CallerHungUp(Exception):
    """The callee hung up."""


class EndCall(Exception):
    """The agent, a tool or a rule ends the call."""

    def __init__(self, reason: DisconnectionReason, detail: str | None = None) -> None:
        super().__init__(detail or reason.value)
        self.ending = Ending(reason, detail)


class FlowError(EndCall):
    """The flow is broken or stuck; the call ends with `flow_error`."""

    def __init__(self, detail: str) -> None:
        super().__init__(DisconnectionReason.FLOW_ERROR, detail)


class Utterance:
    """One thing the agent says, sent in chunks (`add`) and heard as far as the marks say."""

    def __init__(self, conv: Conversation, utterance_id: str) -> None:
        self.conv = conv
        self.id = utterance_id
        self.text = ""  #: everything sent
        self.played = 0  #: characters of `text` the callee heard
        self.done = False
        self.interrupted = False  #: the callee talked over it; later chunks are not sent
        self._entry: TranscriptEntry | None = None

    @property
    def heard(self) -> str:
        return self.text[: self.played].strip()

    async def add(self, text: str) -> None:
        if not text or self.interrupted or self.done:
            return
        self.conv._check_line()
        self.text += text
        await self.conv.transport.send(Speak(self.id, text))

    async def __aenter__(self) -> Utterance:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conv = self.conv
        if not self.text:  # nothing was said (a model answering with tool calls only)
            conv._speaking.pop(self.id, None)
            self.done = True
        elif exc_type is not None:  # the answer broke off (a failing model): stop where we are
            if not conv.hung_up:
                await conv.transport.send(StopSpeaking())
            return
        else:
            if not self.interrupted and not conv.hung_up:
                await conv.transport.send(Speak(self.id, "", end=True))
            await conv._until(lambda: self.done)
        if exc_type is None:
            conv._check_line()

    def _marked(self, mark: PlaybackMark) -> None:
        self.played = max(self.played, mark.played)
        if self._entry is None and (self.played or not mark.done):  # playback started
            self._entry = {"role": "agent", "content": "", "start_at": mark.at, "end_at": mark.at}
            self.conv.transcript.append(self._entry)
        if self._entry is not None:
            self._entry["content"] = self.heard
            self._entry["end_at"] = mark.at
        if mark.done:
            self.done = True
            if self._entry is not None and not self.heard:
                self.conv.transcript.remove(self._entry)
            self.conv._recorded()


#: Told the record so far: (transcript, collected), copies the receiver may keep. Must not block.
Progress = Callable[[list[TranscriptEntry], dict[str, Any]], None]


class Conversation:
    """Use as `async with Conversation(...) as conv:` — the block is the time the pump runs."""

    def __init__(
        self,
        transport: Transport,
        clock: Clock,
        variables: dict[str, Any],
        *,
        inactivity_timeout_s: float,
        reprompts: int,
        progress: Progress | None = None,
    ) -> None:
        self.transport = transport
        self.progress = progress
        self.clock = clock
        self.variables = variables
        self.inactivity_timeout_s = inactivity_timeout_s
        self.reprompts = reprompts
        self.transcript: list[TranscriptEntry] = []
        self.collected: dict[str, Any] = {}
        self.hung_up = False
        self._tool_calls = 0
        self._utterances = 0
        self._speaking: dict[str, Utterance] = {}  #: sent and not yet done playing
        self._inputs: deque[str] = deque()
        self._callee_talking = False
        self._transfer: CarrierStatus | None = None
        self._failure: BaseException | None = None
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Conversation:
        self._pump = asyncio.get_running_loop().create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump

    # --- what runtimes use -----------------------------------------------------------------------

    def utterance(self) -> Utterance:
        """A new utterance to stream into: `async with conv.utterance() as u: await u.add(...)`.

        Leaving the block ends the utterance and waits until it has been played (or cut)."""
        self._utterances += 1
        utterance = Utterance(self, f"u{self._utterances}")
        self._speaking[utterance.id] = utterance
        return utterance

    async def say(self, text: str) -> Utterance:
        async with self.utterance() as utterance:
            await utterance.add(text)
        return utterance

    async def hear(self, reprompt: str | None = None) -> str:
        """The callee's next input; re-prompts after silences, then ends with `inactivity`."""
        silences = 0
        while True:
            heard = await self._next_input()
            if heard is not None:
                return heard
            silences += 1
            if silences > self.reprompts:
                raise EndCall(
                    DisconnectionReason.INACTIVITY, f"no answer after {self.reprompts} re-prompt(s)"
                )
            await self.say(reprompt or DEFAULT_REPROMPT)

    async def transfer(self, number: str) -> bool:
        """Bridge the callee to `number`; True when the carrier took the transfer."""
        self._check_line()
        self._transfer = None
        await self.transport.send(Transfer(number))
        await self._until(lambda: self._transfer is not None)
        self._check_line()
        return self._transfer is CarrierStatus.TRANSFERRED

    def tool_invoked(self, name: str, arguments: dict[str, Any]) -> str:
        self._tool_calls += 1
        tool_call_id = f"call_{self._tool_calls}"
        self.transcript.append(
            {
                "role": "tool_call_invocation",
                "tool_call_id": tool_call_id,
                "name": name,
                "arguments": arguments,
                "at": self.clock.now_ms(),
            }
        )
        self._recorded()
        return tool_call_id

    def tool_returned(self, tool_call_id: str, content: str, *, ok: bool) -> None:
        self.transcript.append(
            {
                "role": "tool_call_result",
                "tool_call_id": tool_call_id,
                "content": content,
                "successful": ok,
                "at": self.clock.now_ms(),
            }
        )
        self._recorded()

    def moved(self, source: str, target: str) -> None:
        self.transcript.append(
            {"role": "node_transition", "from": source, "to": target, "at": self.clock.now_ms()}
        )
        self._recorded()

    def collect(self, values: dict[str, Any]) -> None:
        self.variables.update(values)
        self.collected.update(values)
        self._recorded()

    def _recorded(self) -> None:
        """The record changed: report a copy (entries are copied too — an agent's entry grows
        while it plays)."""
        if self.progress is not None:
            self.progress([dict(entry) for entry in self.transcript], dict(self.collected))

    # --- waiting ---------------------------------------------------------------------------------

    async def _next_input(self) -> str | None:
        """The next input, or None after `inactivity_timeout_s` in which the callee never spoke."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.inactivity_timeout_s
        while not self._inputs:
            self._check_line()
            if self._callee_talking:  # the silence is over; its words are on their way
                await self._changed()
                deadline = loop.time() + self.inactivity_timeout_s
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed()
        return self._inputs.popleft()

    async def _until(self, done: Callable[[], bool]) -> None:
        while not done():
            if self.hung_up or self._failure is not None:
                return
            await self._changed()

    async def _changed(self) -> None:
        wake = self._wake
        await wake.wait()

    def _notify(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _check_line(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self.hung_up:
            raise CallerHungUp

    # --- the pump --------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while not self.hung_up:
                await self._on(await self.transport.receive())
                self._notify()
        except Exception as exc:  # a broken transport ends the call as a platform error
            log.exception("the call's transport failed")
            self._failure = exc
            self._notify()

    async def _on(self, event: Event) -> None:
        if isinstance(event, PlaybackMark):
            utterance = self._speaking.get(event.utterance_id)
            if utterance is not None:
                utterance._marked(event)
                if utterance.done:
                    del self._speaking[utterance.id]
        elif isinstance(event, SpeechStarted):
            self._callee_talking = True
            await self._barge_in()
        elif isinstance(event, SpeechStopped):
            self._callee_talking = False
        elif isinstance(event, FinalTranscript):
            self._callee_talking = False
            self._input(event.text, event.start_at, event.end_at, event.words)
        elif isinstance(event, Dtmf):
            self._input(event.digit, event.at, event.at)
        elif isinstance(event, Carrier):
            if event.status in (CarrierStatus.TRANSFERRED, CarrierStatus.TRANSFER_FAILED):
                self._transfer = event.status
        elif isinstance(event, HungUp):
            self.hung_up = True
        # Audio frames and partial transcripts are a speech pipeline's business, not ours.

    async def _barge_in(self) -> None:
        playing = [u for u in self._speaking.values() if u.text and not u.done]
        if not playing:
            return
        for utterance in playing:
            utterance.interrupted = True
        await self.transport.send(StopSpeaking())

    def _input(self, text: str, start_at: int, end_at: int, words: tuple[Word, ...] = ()) -> None:
        entry: TranscriptEntry = {"role": "user", "content": text, "start_at": start_at, "end_at": end_at}
        if words:  # where the transcriber gave word timings
            entry["words"] = [{"word": w.word, "start_at": w.start_at, "end_at": w.end_at} for w in words]
        self.transcript.append(entry)
        self._inputs.append(text)
        self._recorded()
