"""Twilio's requests to callplane: status callbacks and the media stream (thin: the work is in
engine/live/telephony/twilio and engine/services/carrier.py).

Every callback must carry a valid X-Twilio-Signature for `CALLPLANE_PUBLIC_URL` + the path and
query it was sent to (the reverse proxy forwards paths unchanged); anything else gets 403, and so
does a token that was not issued with the account's auth token. The media socket proves itself
with the signed token the stream's markup carried (`start.customParameters.token`).
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from callplane.api.deps import ServicesDep
from callplane.config import Settings
from callplane.engine.live.telephony.twilio import markup, signature, switchboard, wire
from callplane.engine.live.telephony.twilio.line import TwilioLine
from callplane.engine.live.telephony.twilio.provider import (
    LINES,
    MEDIA_PATH,
    STATUS_PATH,
    VOICE_PATH,
    inbound_token,
    stream_url,
)
from callplane.engine.services import carrier

router = APIRouter(include_in_schema=False)

_FORBIDDEN = Response(status_code=403)
_POLICY_VIOLATION = 1008
_LINE_WAIT_STEP_S = 0.05
_LINE_WAIT_STEPS = 100  #: 5 s for an incoming call's worker to pick it up


def _signed_url(settings: Settings, request: Request) -> str:
    assert settings.public_url is not None
    query = request.url.query
    return settings.public_url.rstrip("/") + request.url.path + (f"?{query}" if query else "")


async def verified_form(request: Request, settings: Settings) -> dict[str, str] | None:
    """The callback's parameters, or None when it is not signed with the account's auth token."""
    token = settings.twilio_auth_token
    if token is None or settings.public_url is None:
        return None
    body = await request.body()
    url = _signed_url(settings, request)
    claimed = request.headers.get("X-Twilio-Signature")
    if request.headers.get("content-type", "").startswith("application/json"):
        return {} if signature.valid_json(token, url, body, claimed) else None
    pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs) if signature.valid_form(token, url, pairs, claimed) else None


@router.post(STATUS_PATH + "{token}")
async def status(token: str, request: Request, services: ServicesDep) -> Response:
    """Call progress (`CallStatus`, `AnsweredBy`, and at the end perhaps `Price`/`PriceUnit`);
    also the answering-machine verdict when it is sent here."""
    settings = services.settings
    params = await verified_form(request, settings)
    assert settings.twilio_auth_token is not None or params is None
    ticket = switchboard.check(settings.twilio_auth_token or "", token) if params is not None else None
    if params is None or ticket is None:
        return _FORBIDDEN
    line = LINES.get(token)
    if line is not None:
        line.on_status(params)
    if params.get("Price"):
        price = f"{params['Price']} {params.get('PriceUnit', '')}".strip()
        await run_in_threadpool(
            carrier.record_carrier_price, services.db, ticket.organization_id, ticket.call_id, price
        )
    return Response(status_code=204)


@router.post(VOICE_PATH)
async def voice(request: Request, services: ServicesDep) -> Response:
    """A call to one of our numbers (the number's voice URL at Twilio points here): answered by
    the number's inbound agent with markup connecting a media stream, or rejected."""
    settings = services.settings
    params = await verified_form(request, settings)
    if params is None:
        return _FORBIDDEN
    desk = services.inbound
    claimed = None
    if desk is not None and params.get("To") and params.get("From") and params.get("CallSid"):
        claimed = await run_in_threadpool(
            lambda: carrier.receive_inbound(
                services.db,
                desk,
                provider="twilio",
                to_number=params["To"],
                caller=params["From"],
                carrier_id=params["CallSid"],
                now=services.clock.now_ms(),
            )
        )
    if claimed is None:
        return _twiml(markup.reject())
    assert settings.twilio_auth_token is not None and settings.public_url is not None
    ticket = switchboard.Ticket(claimed.organization_id, claimed.id, claimed.attempt)
    token = inbound_token(settings.twilio_auth_token, ticket)
    return _twiml(markup.connect_stream(stream_url(settings.public_url), {"token": token}))


def _twiml(text: str) -> Response:
    return Response(text, media_type="application/xml")


@router.websocket(MEDIA_PATH)
async def media(ws: WebSocket) -> None:
    settings: Settings = ws.app.state.services.settings
    await ws.accept()
    outgoing: asyncio.Queue[str] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    line = None
    writer: asyncio.Task[None] | None = None

    def send(text: str) -> None:  # called on the worker's loop
        loop.call_soon_threadsafe(outgoing.put_nowait, text)

    try:
        while True:
            message = wire.parse(await ws.receive_text())
            if isinstance(message, wire.Start):
                token = message.custom_parameters.get("token", "")
                known = switchboard.check(settings.twilio_auth_token or "", token) is not None
                line = await _line(token) if known else None
                if line is None:
                    await ws.close(_POLICY_VIOLATION)
                    return
                writer = asyncio.create_task(_write(ws, outgoing))
                line.on_stream(send, message)
            elif line is not None and message is not None:
                line.on_message(message)
                if isinstance(message, wire.Stop):
                    return
    except (WebSocketDisconnect, wire.BadMessage):
        return
    finally:
        if line is not None:
            line.on_stream_closed()
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer


async def _line(token: str) -> TwilioLine | None:
    """The line a stream belongs to; an incoming call's worker may still be setting it up."""
    for _ in range(_LINE_WAIT_STEPS):
        line = LINES.get(token)
        if line is not None:
            return line
        await asyncio.sleep(_LINE_WAIT_STEP_S)
    return None


async def _write(ws: WebSocket, outgoing: asyncio.Queue[str]) -> None:
    while True:
        await ws.send_text(await outgoing.get())
