"""The `twilio` telephony provider: a call placed through Twilio's REST API whose audio comes
back over a Media Streams WebSocket, through the speech pipeline.

Dialling: a per-attempt token is issued and the line registered under it (switchboard.py), then
one `POST Calls.json` creates the call — `To`, `From` (the approved presentation number when the
call has one: Twilio presents `From` as the caller ID), the ring `Timeout`, synchronous
answering-machine detection (the verdict arrives as `AnsweredBy` before the stream opens), status
callbacks to `{public}/telephony/twilio/status/{token}`, and TwiML connecting a stream to
`{public wss}/telephony/twilio/media` with the token as a parameter.

Twilio has no idempotency key on creates, and the call's attempt is already durable (the worker's
claim fenced it) before this runs, so a create is sent at most once per attempt: when its answer
is lost (a timeout), the call is looked up by its numbers instead of being sent again.
"""

from __future__ import annotations

import logging

import httpx

from callplane.config import Settings
from callplane.engine.clock import Clock
from callplane.engine.live.session import Transport
from callplane.engine.live.speech.stack import SpeechStack
from callplane.engine.live.telephony.provider import DialRequest, ProviderUnavailable
from callplane.engine.live.telephony.twilio import markup, switchboard
from callplane.engine.live.telephony.twilio.line import TwilioLine
from callplane.engine.live.telephony.twilio.rest import CallResource, TwilioRest

log = logging.getLogger(__name__)

#: Every line of this process, for the routes that receive the carrier's requests.
LINES: switchboard.Switchboard[TwilioLine] = switchboard.Switchboard()

STATUS_PATH = "/telephony/twilio/status/"
MEDIA_PATH = "/telephony/twilio/media"
VOICE_PATH = "/telephony/twilio/voice"
_LIVE = frozenset({"queued", "initiated", "ringing", "in-progress"})


def stream_url(public_url: str) -> str:
    base = public_url.rstrip("/")
    for plain, secure in (("https://", "wss://"), ("http://", "ws://")):
        if base.startswith(plain):
            base = secure + base.removeprefix(plain)
    return base + MEDIA_PATH


class TwilioProvider:
    name = "twilio"

    def __init__(
        self, settings: Settings, clock: Clock, stack: SpeechStack, *, timeout_s: float = 10.0
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.stack = stack
        self.timeout = httpx.Timeout(timeout_s, connect=min(5.0, timeout_s))
        self._rest: TwilioRest | None = None

    def rest(self) -> TwilioRest:
        missing = [
            f"CALLPLANE_{name.upper()}"
            for name in ("twilio_account_sid", "twilio_auth_token", "public_url")
            if not getattr(self.settings, name)
        ]
        if missing:
            raise ProviderUnavailable(f"Twilio calls need {', '.join(missing)} set; nothing was dialled")
        if self._rest is None:
            s = self.settings
            assert s.twilio_account_sid is not None and s.twilio_auth_token is not None
            client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
            self._rest = TwilioRest(client, s.twilio_api_base, s.twilio_account_sid, s.twilio_auth_token)
        return self._rest

    async def dial(self, request: DialRequest) -> Transport:
        if request.inbound:
            return self._answer(request)
        rest = self.rest()
        s = self.settings
        assert s.twilio_auth_token is not None and s.public_url is not None
        ticket = switchboard.Ticket(request.organization_id, request.call_id, request.attempt)
        token = switchboard.issue(s.twilio_auth_token, ticket)
        caller_id = request.presentation_number or request.from_number
        line = TwilioLine(token, rest, self.clock, caller_id=caller_id, on_close=lambda: LINES.remove(token))
        LINES.add(token, line)
        try:
            created = await self._create(rest, request, token, caller_id)
        except BaseException:
            LINES.remove(token)
            raise
        line.call_sid = created.sid
        log.info("call %s is Twilio call %s", request.call_id, created.sid)
        return self.stack.pipeline(line, self.clock, request.voice, request.tee)

    def _answer(self, request: DialRequest) -> Transport:
        """An incoming call: the voice webhook already answered Twilio with markup connecting a
        stream under this attempt's token; the line waits for that stream."""
        rest = self.rest()
        assert self.settings.twilio_auth_token is not None
        ticket = switchboard.Ticket(request.organization_id, request.call_id, request.attempt)
        token = inbound_token(self.settings.twilio_auth_token, ticket)
        line = TwilioLine(token, rest, self.clock, inbound=True, on_close=lambda: LINES.remove(token))
        LINES.add(token, line)
        return self.stack.pipeline(line, self.clock, request.voice, request.tee)

    async def _create(
        self, rest: TwilioRest, request: DialRequest, token: str, caller_id: str
    ) -> CallResource:
        s = self.settings
        assert s.public_url is not None
        params = [
            ("To", request.to_number),
            ("From", caller_id),
            ("Timeout", str(max(5, min(600, round(request.ring_timeout_s))))),
            ("MachineDetection", "Enable"),
            ("StatusCallback", f"{s.public_url.rstrip('/')}{STATUS_PATH}{token}"),
            ("StatusCallbackMethod", "POST"),
            *(("StatusCallbackEvent", event) for event in ("initiated", "ringing", "answered", "completed")),
            ("Twiml", markup.connect_stream(stream_url(s.public_url), {"token": token})),
        ]
        try:
            return await rest.create_call(params)
        except httpx.TimeoutException:
            # The create may have reached Twilio: look for it rather than dial the callee twice.
            found = await self._find(rest, request, caller_id)
            if found is None:
                raise
            return found

    async def _find(self, rest: TwilioRest, request: DialRequest, caller_id: str) -> CallResource | None:
        for call in await rest.find_recent(request.to_number, caller_id):
            if call.status in _LIVE:
                log.warning("create of call %s timed out; adopting Twilio call %s", request.call_id, call.sid)
                return call
        return None

    async def hang_up_orphan(self, telephony_id: str) -> None:
        """End a carrier call nobody holds any more (its worker died)."""
        await self.rest().hang_up(telephony_id)

    async def aclose(self) -> None:
        if self._rest is not None:
            await self._rest.client.aclose()
            self._rest = None


def inbound_token(auth_token: str, ticket: switchboard.Ticket) -> str:
    return switchboard.issue(auth_token, ticket, switchboard.INBOUND)


def from_settings(settings: Settings, clock: Clock) -> TwilioProvider:
    return TwilioProvider(settings, clock, SpeechStack.from_settings(settings))
