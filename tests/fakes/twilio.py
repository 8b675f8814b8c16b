"""A fake Twilio on loopback, speaking Twilio's documented protocols and nothing of callplane's.

- REST: `POST /2010-04-01/Accounts/{Sid}/Calls.json` (Basic auth, form: To, From, Timeout,
  MachineDetection, StatusCallback, StatusCallbackEvent, Twiml), `GET Calls.json?To=&From=`,
  `POST Calls/{CallSid}.json` (`Status=completed|canceled` hangs up, `Twiml` replaces the markup).
- Status callbacks to `StatusCallback`, form-encoded and signed with X-Twilio-Signature
  (HMAC-SHA1 over the URL and the sorted parameters, written here independently of callplane).
- On answer, a Media Streams client connects to the `<Stream url>` of the call's TwiML, sends
  `connected` and `start` (with the `<Parameter>`s as customParameters), then a `media` frame
  every 20 ms of real time, plays the agent's audio on a playout clock, returns each `mark` once
  the audio before it has played, honours `clear` (dropping queued audio and returning its marks,
  as Twilio does), and sends `stop` when the callee hangs up or the call is ended through REST.

The callee (`Callee`, chosen by the number called) speaks with the scripted synthesizer's
rendering and hears through the scripted transcriber's reading, so tests can say exactly what
was said and heard.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from websockets.asyncio.client import ClientConnection, connect

from callplane.engine.live.speech import audio, scripted
from tests.fakes.server import serve_in_thread

FRAME = 160  #: 20 ms of μ-law at 8 kHz
TICK_S = 0.02
SILENCE = b"\xff" * FRAME  #: μ-law zero
AGENT_PAUSE_S = 0.4  #: a gap in the agent's audio this long ends its turn, for the callee


@dataclass
class Callee:
    answer: str = "human"  #: human | machine_start | fax | busy | no-answer | failed | never
    ring_s: float = 0.1
    lines: list[str] = field(default_factory=list)  #: says one after each agent turn
    greeting: str | None = None  #: says this as soon as the stream starts (a voicemail greeting)
    barge_in_after_s: float | None = None  #: says its first line this far into the agent's first turn
    hang_up_after_turns: int | None = None  #: hangs up once it heard this many agent turns


@dataclass
class FakeCall:
    sid: str
    to: str
    from_: str
    params: list[tuple[str, str]]
    callee: Callee
    status: str = "queued"
    callbacks: list[dict[str, str]] = field(default_factory=list)
    heard: list[str] = field(default_factory=list)  #: what the callee heard, per agent turn
    marks: list[str] = field(default_factory=list)  #: marks returned
    clears: int = 0
    custom_parameters: dict[str, str] = field(default_factory=dict)
    updates: list[dict[str, str]] = field(default_factory=list)  #: REST updates received
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def param(self, name: str) -> str:
        return next((v for k, v in self.params if k == name), "")


def twilio_signature(token: str, url: str, params: list[tuple[str, str]]) -> str:
    data = url + "".join(k + v for k, v in sorted(params, key=lambda kv: kv[0]))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class FakeTwilio:
    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.callees: dict[str, Callee] = {}
        self.calls: dict[str, FakeCall] = {}
        self.creates = 0
        self.stall_creates_s = 0.0  #: answer creates this late (a client timing out meanwhile)
        self.url = ""
        self._tasks: set[asyncio.Task[None]] = set()
        prefix = f"/2010-04-01/Accounts/{self.account_sid}"
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/Calls.json", self._create, methods=["POST"]),
                Route(f"{prefix}/Calls.json", self._list, methods=["GET"]),
                Route(prefix + "/Calls/{sid}.json", self._update, methods=["POST"]),
            ]
        )

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeTwilio]:
        with serve_in_thread(self.app) as url:
            self.url = url
            yield self

    def call_to(self, number: str) -> FakeCall:
        return next(c for c in self.calls.values() if c.to == number)

    # --- REST ------------------------------------------------------------------------------------

    def _authorised(self, request: Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return hmac.compare_digest(request.headers.get("authorization", ""), expected)

    async def _create(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        params = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        form = dict(params)
        if not form.get("To", "").startswith("+") or not form.get("From", "").startswith("+"):
            return JSONResponse({"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}, 400)
        self.creates += 1
        call = FakeCall(
            "CA" + secrets.token_hex(16), form["To"], form["From"], params, self._callee(form["To"])
        )
        self.calls[call.sid] = call
        self._spawn(self._lifecycle(call))
        await asyncio.sleep(self.stall_creates_s)
        return JSONResponse(self._resource(call), 201)

    def _callee(self, number: str) -> Callee:
        return self.callees.get(number, Callee())

    async def _list(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        q = request.query_params
        found = [
            self._resource(c)
            for c in reversed(self.calls.values())
            if c.to == q.get("To", c.to) and c.from_ == q.get("From", c.from_)
        ]
        return JSONResponse({"calls": found})

    async def _update(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        call = self.calls.get(request.path_params["sid"])
        if call is None:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404}, 404)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        call.updates.append(form)
        if form.get("Status") in ("completed", "canceled") or "Twiml" in form:
            call.ended.set()
        return JSONResponse(self._resource(call))

    def _resource(self, call: FakeCall) -> dict[str, Any]:
        return {"sid": call.sid, "status": call.status, "to": call.to, "from": call.from_}

    # --- an incoming call ---------------------------------------------------------------------------

    def call_in(self, voice_url: str, caller: str, to: str, callee: Callee) -> FakeCall:
        """Someone calls `to`: Twilio asks the number's voice URL (signed) what to do, and runs the
        markup it gets — a stream, or `<Reject/>` (the call's status is then `rejected`)."""
        return asyncio.run(self._inbound(voice_url, caller, to, callee))

    async def _inbound(self, voice_url: str, caller: str, to: str, callee: Callee) -> FakeCall:
        sid = "CA" + secrets.token_hex(16)
        params = [("CallSid", sid), ("AccountSid", self.account_sid), ("From", caller), ("To", to)]
        params += [("CallStatus", "ringing"), ("Direction", "inbound")]
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, voice_url, params)}
        async with httpx.AsyncClient() as client:
            response = await client.post(voice_url, data=dict(params), headers=headers)
        call = FakeCall(sid, to, caller, [("Twiml", response.text)], callee)
        self.calls[sid] = call
        if response.status_code != 200 or ET.fromstring(response.text).find("Reject") is not None:
            call.status = "rejected" if response.status_code == 200 else f"http {response.status_code}"
        else:
            call.status = "in-progress"
            await self._stream(call)
            call.status = "completed"
        call.done.set()
        return call

    # --- the call ---------------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _callback(self, call: FakeCall, status: str, **extra: str) -> None:
        call.status = status
        url = call.param("StatusCallback")
        params = [("CallSid", call.sid), ("AccountSid", self.account_sid), ("CallStatus", status)]
        params += [("To", call.to), ("From", call.from_), *extra.items()]
        call.callbacks.append(dict(params))
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, params)}
        async with httpx.AsyncClient() as client:
            with contextlib.suppress(httpx.TransportError):  # nobody listening: Twilio moves on too
                await client.post(url, data=dict(params), headers=headers)

    async def _lifecycle(self, call: FakeCall) -> None:
        try:
            await self._callback(call, "ringing")
            callee = call.callee
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.ended.wait(), None if callee.answer == "never" else callee.ring_s)
            if call.ended.is_set():
                await self._callback(call, "canceled")
                return
            if callee.answer in ("busy", "no-answer", "failed"):
                await self._callback(call, callee.answer)
                return
            await self._callback(call, "in-progress", AnsweredBy=callee.answer)
            await self._stream(call)
            await self._callback(call, "completed", CallDuration="7", Price="-0.01300", PriceUnit="USD")
        finally:
            call.done.set()

    async def _stream(self, call: FakeCall) -> None:
        root = ET.fromstring(call.param("Twiml"))
        stream = root.find("./Connect/Stream")
        assert stream is not None, call.param("Twiml")
        call.custom_parameters = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        async with connect(stream.get("url", "")) as ws:
            stream_sid = "MZ" + secrets.token_hex(16)
            await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
            start = {
                "streamSid": stream_sid,
                "accountSid": self.account_sid,
                "callSid": call.sid,
                "tracks": ["inbound"],
                "customParameters": call.custom_parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            }
            await ws.send(
                json.dumps({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": stream_sid})
            )
            await _Media(call, ws, stream_sid).run()


class _Media:
    """One media stream: the callee's microphone, its ear (a playout clock) and its script."""

    def __init__(self, call: FakeCall, ws: ClientConnection, stream_sid: str) -> None:
        self.call = call
        self.callee = call.callee
        self.ws = ws
        self.sid = stream_sid
        self.playout: deque[bytes | str] = deque()  #: agent audio (μ-law) and mark names
        self.mic = bytearray()
        self.heard = bytearray()  #: PCM16 of the agent's current turn
        self.lines = deque(call.callee.lines)
        self.turns = 0
        self.quiet_s = 0.0
        self.talking_s = 0.0  #: agent audio played in its current turn
        self.barged = False
        self.seq = 1
        if call.callee.greeting:
            self._say(call.callee.greeting)

    async def run(self) -> None:
        reader = asyncio.get_running_loop().create_task(self._read())
        loop = asyncio.get_running_loop()
        due = loop.time()
        try:
            while not reader.done():
                if self.call.ended.is_set() or self._tick():
                    await self._send({"event": "stop", "stop": {"callSid": self.call.sid}})
                    break
                due += TICK_S
                await asyncio.sleep(max(0.0, due - loop.time()))
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            await self.ws.close()

    def _tick(self) -> bool:
        """20 ms of the call; True when the callee hangs up."""
        chunk = bytes(self.mic[:FRAME])
        del self.mic[:FRAME]
        self.seq += 1
        media = {"track": "inbound", "chunk": str(self.seq), "timestamp": str(self.seq * 20)}
        media["payload"] = base64.b64encode(chunk + SILENCE[len(chunk) :]).decode()
        asyncio.get_running_loop().create_task(self._send({"event": "media", "media": media}))
        played = self._play(FRAME)
        if played:
            self.quiet_s, self.talking_s = 0.0, self.talking_s + TICK_S
            first = self.turns == 0 and self.callee.barge_in_after_s is not None
            if (
                first
                and not self.barged
                and self.talking_s >= (self.callee.barge_in_after_s or 0)
                and self.lines
            ):
                self.barged = True
                self._say(self.lines.popleft())
        elif self.heard:
            self.quiet_s += TICK_S
            if self.quiet_s >= AGENT_PAUSE_S:
                return self._agent_turn_over()
        return False

    def _play(self, budget: int) -> int:
        played = 0
        while self.playout:
            head = self.playout[0]
            if isinstance(head, str):
                self.playout.popleft()
                self.call.marks.append(head)
                asyncio.get_running_loop().create_task(self._send({"event": "mark", "mark": {"name": head}}))
                continue
            if played >= budget:
                break
            take = head[: budget - played]
            self.heard += audio.mulaw_to_pcm16(take)
            played += len(take)
            if len(take) == len(head):
                self.playout.popleft()
            else:
                self.playout[0] = head[len(take) :]
        return played

    def _agent_turn_over(self) -> bool:
        self.turns += 1
        self.call.heard.append(scripted.read(bytes(self.heard)))
        self.heard.clear()
        self.talking_s = 0.0
        if self.callee.hang_up_after_turns is not None and self.turns >= self.callee.hang_up_after_turns:
            return True
        if self.lines and not self.mic:
            self._say(self.lines.popleft())
        return False

    def _say(self, text: str) -> None:
        self.mic += audio.pcm16_to_mulaw(scripted.render(text))

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            event = message.get("event")
            if message.get("streamSid") != self.sid:
                raise AssertionError(f"message for another stream: {message}")
            if event == "media":
                self.playout.append(base64.b64decode(message["media"]["payload"]))
            elif event == "mark":
                self.playout.append(str(message["mark"]["name"]))
            elif event == "clear":
                self.call.clears += 1
                pending = [item for item in self.playout if isinstance(item, str)]
                self.playout.clear()
                for name in pending:  # Twilio returns the marks of the cleared audio
                    self.call.marks.append(name)
                    await self._send({"event": "mark", "mark": {"name": name}})

    async def _send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the other side may have closed the socket
            await self.ws.send(json.dumps({**message, "streamSid": self.sid}))
