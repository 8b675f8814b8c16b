"""How values look on the dashboard: local times, durations, won, numbers, search highlights.

Every function returns text; `highlight` returns `Markup` whose every piece of the transcript is
escaped first, so a transcript can never inject HTML.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
from markupsafe import Markup, escape

from callplane.domain.money import from_minor
from callplane.domain.phone import to_domestic

SNIPPET_CHARS = 60


def local_time(ms: int | None, timezone: str, *, seconds: bool = False) -> str:
    if ms is None:
        return "—"
    moment = datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(timezone))
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    total = round(ms / 1000)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def since(at: int | None, origin: int | None) -> int | None:
    """A transcript time (Unix ms) as ms into the call from `origin`, its answered_at — where
    the recording starts, so it is also the player's position. None without either; a line
    stamped a moment before the answer (a greeting queued while connecting) is at 0."""
    if at is None or origin is None:
        return None
    return max(0, at - origin)


def offset(ms: int | None) -> str:
    """A time within the call (ms from its start), as m:ss."""
    return "" if ms is None else duration(ms)


def won(minor: int | None) -> str:
    if minor is None:
        return "—"
    amount = from_minor(minor)
    # Whole won when there are no jeon: ₩1,200 rather than ₩1,200.00.
    text = f"{amount:,.0f}" if amount == amount.to_integral_value() else f"{amount:,.2f}"
    return f"₩{text}"


def data(value: object) -> str:
    """A value from a call's JSON (a tool's arguments, an analysis field) as text: a string as it
    is, anything else as compact JSON with Korean kept readable (not Python's repr)."""
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def number(e164: str | None) -> str:
    return "—" if not e164 else to_domestic(e164)


def _pattern(query: str) -> re.Pattern[str] | None:
    needle = unicodedata.normalize("NFC", query)
    return re.compile(re.escape(needle), re.IGNORECASE) if needle.strip() else None


def highlight(text: str, query: str | None) -> Markup:
    """`text` escaped, with every match of `query` (case-insensitive, NFC) in <mark>."""
    text = unicodedata.normalize("NFC", text)
    pattern = _pattern(query or "")
    if pattern is None:
        return escape(text)
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        pieces.append(str(escape(text[last : match.start()])))
        pieces.append(f"<mark>{escape(match.group())}</mark>")
        last = match.end()
    pieces.append(str(escape(text[last:])))
    return Markup("".join(pieces))


def snippet(text: str, query: str | None) -> Markup:
    """The part of a transcript around the first match, highlighted (the list shows this)."""
    text = unicodedata.normalize("NFC", text)
    pattern = _pattern(query or "")
    found = pattern.search(text) if pattern else None
    if found is None:
        return escape(text[:SNIPPET_CHARS])
    start = max(0, found.start() - SNIPPET_CHARS // 2)
    end = min(len(text), found.end() + SNIPPET_CHARS // 2)
    body = highlight(text[start:end], query)
    return Markup(("…" if start else "") + body + ("…" if end < len(text) else ""))
