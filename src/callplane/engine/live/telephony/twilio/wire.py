"""The Media Streams wire format: Twilio's JSON messages over the stream's WebSocket.

From Twilio: `connected`, `start` (streamSid, callSid, customParameters, mediaFormat), `media`
(base64 μ-law 8 kHz, 20 ms a message), `mark` (a mark we sent has been played — or cleared),
`dtmf`, `stop`. To Twilio: `media`, `mark`, `clear`, each naming the streamSid. Only the shape
lives here; `line.py` decides what they mean for a call.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Connected:
    pass


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


@dataclass(frozen=True, slots=True)
class Media:
    payload: bytes
    track: str = "inbound"


@dataclass(frozen=True, slots=True)
class MarkDone:
    name: str


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class Stop:
    pass


Inbound = Connected | Start | Media | MarkDone | Digit | Stop


class BadMessage(ValueError):
    pass


def parse(text: str | bytes) -> Inbound | None:
    """A message from the carrier; None for an event this transport does not use."""
    try:
        message = json.loads(text)
        event = message["event"]
        if event == "media":
            media = message["media"]
            return Media(base64.b64decode(media["payload"], validate=True), media.get("track", "inbound"))
        if event == "mark":
            return MarkDone(str(message["mark"]["name"]))
        if event == "start":
            return _start(message["start"])
        if event == "dtmf":
            return Digit(str(message["dtmf"]["digit"]))
        if event == "connected":
            return Connected()
        if event == "stop":
            return Stop()
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadMessage(f"not a Media Streams message: {exc}") from exc
    return None


def _start(start: dict[str, Any]) -> Start:
    media_format = start.get("mediaFormat") or {}
    return Start(
        str(start["streamSid"]),
        str(start["callSid"]),
        {str(k): str(v) for k, v in (start.get("customParameters") or {}).items()},
        str(media_format.get("encoding", "audio/x-mulaw")),
        int(media_format.get("sampleRate", 8000)),
    )


def media(stream_sid: str, payload: bytes) -> str:
    return json.dumps(
        {"event": "media", "streamSid": stream_sid, "media": {"payload": base64.b64encode(payload).decode()}}
    )


def mark(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
