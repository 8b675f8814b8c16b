"""A Twilio call as a raw audio transport: status callbacks and the media stream in, REST and
stream messages out.

Events: the status callbacks give the carrier's progress (`ringing`; `in-progress` answered by a
person, or — with answering-machine detection — `AnsweredBy` machine_*/fax → `MACHINE`; `busy`,
`no-answer`, `failed`, `canceled` before an answer; `completed` after it, the callee hung up).
The stream gives the callee's audio (`media`, μ-law 8 kHz), the marks the callee has heard up to,
key presses, and its end (`stop`, or the socket closing) is a hang-up.

Commands: audio, marks and clears become stream messages (held until the stream starts: Twilio
opens it only once the call is answered); `HangUp` and `Transfer` go through the REST API.

Callbacks and the socket are served on the API's event loop, the line lives on the worker's: the
`on_*` methods may be called from any thread and hand over with `call_soon_threadsafe`; the
socket's `send` the line is given must be thread-safe too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

from callplane.engine.clock import Clock
from callplane.engine.live.session import (
    AudioFrame,
    AudioMarked,
    Carrier,
    CarrierStatus,
    ClearAudio,
    Codec,
    Dtmf,
    HangUp,
    HungUp,
    Mark,
    PlayAudio,
    RawCommand,
    RawEvent,
    Transfer,
)
from callplane.engine.live.speech import audio
from callplane.engine.live.telephony.twilio import markup, wire
from callplane.engine.live.telephony.twilio.rest import TwilioRest

log = logging.getLogger(__name__)

RATE = 8000
#: How long a started stream waits for the `answered` callback (which says who answered) before
#: taking the stream itself as the answer: the two travel separately and may arrive in any order.
ANSWER_GRACE_S = 1.0

_NOT_CONNECTED = {
    "busy": CarrierStatus.BUSY,
    "no-answer": CarrierStatus.NO_ANSWER,
    "failed": CarrierStatus.FAILED,
    "canceled": CarrierStatus.FAILED,
}

Render = Callable[[str], str]  #: stream sid → message


def answered_status(answered_by: str | None) -> CarrierStatus:
    """`AnsweredBy` (answering-machine detection): machine_start, machine_end_beep, fax, … are a
    machine; human or unknown (or no detection) is taken as a person."""
    if answered_by is not None and (answered_by.startswith("machine") or answered_by == "fax"):
        return CarrierStatus.MACHINE
    return CarrierStatus.ANSWERED


class TwilioLine:
    def __init__(
        self,
        token: str,
        rest: TwilioRest,
        clock: Clock,
        *,
        caller_id: str | None = None,
        inbound: bool = False,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.token = token
        self.rest = rest
        self.clock = clock
        self.caller_id = caller_id
        #: An incoming call is answered by our markup: the stream's start is the answer.
        self.inbound = inbound
        self.call_sid: str | None = None
        self._on_close = on_close
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[RawEvent] = asyncio.Queue()
        self._stream_sid: str | None = None
        self._send: Callable[[str], None] | None = None
        self._held: list[Render] = []  #: stream messages before the stream started
        self._held_marks: list[str] = []
        self._rang = False
        self._answered = False
        self._final = False  #: a not-connected status was reported
        self._transferring = False
        self._transferred = False  #: the callee is bridged elsewhere: our hang-up must not end it
        self._closed = False

    @property
    def telephony_id(self) -> str:
        return self.call_sid or self.token

    # --- from the carrier (any thread) ---------------------------------------------------------

    def on_status(self, params: Mapping[str, str]) -> None:
        self._loop.call_soon_threadsafe(self._status, dict(params))

    def on_stream(self, send: Callable[[str], None], start: wire.Start) -> None:
        self._loop.call_soon_threadsafe(self._attach, send, start)

    def on_message(self, message: wire.Inbound) -> None:
        self._loop.call_soon_threadsafe(self._message, message)

    def on_stream_closed(self) -> None:
        self._loop.call_soon_threadsafe(self._hung_up)

    # --- the RawTransport ----------------------------------------------------------------------

    async def receive(self) -> RawEvent:
        return await self._events.get()

    async def send(self, command: RawCommand) -> None:
        if isinstance(command, HangUp):
            await self._hang_up()
        elif self._closed:
            return
        elif isinstance(command, PlayAudio):
            data = command.data
            if command.codec is not Codec.MULAW or command.sample_rate != RATE:
                pcm = audio.resample(audio.decode(data, command.codec), command.sample_rate, RATE)
                data = audio.encode(pcm, Codec.MULAW)
            self._out(lambda sid: wire.media(sid, data))
        elif isinstance(command, Mark):
            if self._send is None:
                self._held_marks.append(command.name)
            name = command.name
            self._out(lambda sid: wire.mark(sid, name))
        elif isinstance(command, ClearAudio):
            self._clear()
        elif isinstance(command, Transfer):
            await self._transfer(command.number)

    # --- inside ---------------------------------------------------------------------------------

    def _emit(self, event: RawEvent) -> None:
        if not self._closed:
            self._events.put_nowait(event)

    def _status(self, params: dict[str, str]) -> None:
        self.call_sid = self.call_sid or params.get("CallSid")
        status = params.get("CallStatus", "")
        if self._answered:
            if status in ("completed", *_NOT_CONNECTED):
                self._hung_up()
        elif self._final:
            return
        elif status == "ringing" and not self._rang:
            self._rang = True
            self._emit(Carrier(CarrierStatus.RINGING, self.clock.now_ms()))
        elif status in ("in-progress", "answered"):
            self._answer(answered_status(params.get("AnsweredBy")))
        elif status in _NOT_CONNECTED or status == "completed":
            self._final = True
            self._emit(Carrier(_NOT_CONNECTED.get(status, CarrierStatus.FAILED), self.clock.now_ms()))

    def _answer(self, status: CarrierStatus) -> None:
        if not self._answered and not self._final:
            self._answered = True
            self._emit(Carrier(status, self.clock.now_ms()))

    def _attach(self, send: Callable[[str], None], start: wire.Start) -> None:
        if self._closed:
            return
        self._send, self._stream_sid = send, start.stream_sid
        self.call_sid = self.call_sid or start.call_sid
        held, self._held, self._held_marks = self._held, [], []
        for render in held:
            send(render(start.stream_sid))
        if self.inbound:
            self._answer(CarrierStatus.ANSWERED)
        elif not self._answered:
            self._loop.call_later(ANSWER_GRACE_S, self._answer, CarrierStatus.ANSWERED)

    def _message(self, message: wire.Inbound) -> None:
        now = self.clock.now_ms()
        if isinstance(message, wire.Media):
            if message.track == "inbound":
                self._emit(AudioFrame(message.payload, Codec.MULAW, RATE, now))
        elif isinstance(message, wire.MarkDone):
            self._emit(AudioMarked(message.name, now))
        elif isinstance(message, wire.Digit):
            self._emit(Dtmf(message.digit, now))
        elif isinstance(message, wire.Stop):
            self._hung_up()

    def _out(self, render: Render) -> None:
        if self._send is None or self._stream_sid is None:
            self._held.append(render)
        else:
            self._send(render(self._stream_sid))

    def _clear(self) -> None:
        if self._send is None or self._stream_sid is None:
            # Nothing has reached the carrier: drop it here, and return its marks as Twilio would.
            now = self.clock.now_ms()
            for name in self._held_marks:
                self._emit(AudioMarked(name, now))
            self._held, self._held_marks = [], []
        else:
            self._send(wire.clear(self._stream_sid))

    async def _transfer(self, number: str) -> None:
        self._transferring = True
        try:
            assert self.call_sid is not None, "a transfer before the call exists"
            await self.rest.update_call(self.call_sid, [("Twiml", markup.dial(number, self.caller_id))])
        except Exception:
            log.exception("transfer of %s to %s failed", self.telephony_id, number)
            self._emit(Carrier(CarrierStatus.TRANSFER_FAILED, self.clock.now_ms()))
            return
        finally:
            self._transferring = False
        self._transfer_done()

    def _transfer_done(self) -> None:
        if not self._transferred:
            self._transferred = True
            self._emit(Carrier(CarrierStatus.TRANSFERRED, self.clock.now_ms()))

    def _hung_up(self) -> None:
        if self._closed:
            return
        if self._transferring:
            # Twilio left the stream to run the new `<Dial>` before its REST answer came back.
            self._transfer_done()
        elif not self._answered and not self._final:  # the line dropped before any answer
            self._final = True
            self._emit(Carrier(CarrierStatus.FAILED, self.clock.now_ms()))
        else:
            self._emit(HungUp(self.clock.now_ms()))
        self._close()

    async def _hang_up(self) -> None:
        """Ours: harmless twice, or after the callee hung up (the REST call then finds the call
        over, which is fine). After a transfer the call is no longer ours to end: leaving the
        stream is all (Twilio runs the `<Dial>` it was given)."""
        already = self._closed
        self._close()
        if not already and not self._transferred and self.call_sid is not None:
            await self.rest.hang_up(self.call_sid)

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._on_close is not None:
                self._on_close()
