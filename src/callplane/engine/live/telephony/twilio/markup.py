"""TwiML, the call-control markup Twilio (and TwiML-compatible carriers) execute."""

from __future__ import annotations

from collections.abc import Mapping
from xml.sax.saxutils import escape, quoteattr

_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def connect_stream(url: str, parameters: Mapping[str, str]) -> str:
    """Bridge the call's audio both ways to the WebSocket at `url` (`<Connect>` keeps the call up
    while the stream is open; the parameters come back in the stream's `start` message)."""
    params = "".join(f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in parameters.items())
    return f"{_HEAD}<Response><Connect><Stream url={quoteattr(url)}>{params}</Stream></Connect></Response>"


def dial(number: str, caller_id: str | None = None) -> str:
    """Bridge the callee to `number` (a transfer): the call leaves callplane's stream."""
    attr = f" callerId={quoteattr(caller_id)}" if caller_id else ""
    return f"{_HEAD}<Response><Dial{attr}>{escape(number)}</Dial></Response>"


def reject() -> str:
    """Refuse an incoming call without answering it (no charge for the caller)."""
    return f"{_HEAD}<Response><Reject/></Response>"
