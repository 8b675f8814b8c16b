"""Export of a filtered calls list as CSV or JSON Lines, written a page at a time.

CSV opens in spreadsheets, so a cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`
first) is prefixed with `'` (OWASP's CSV-injection advice) — except E.164 numbers, which are
checked numbers and would be spoiled by it. The CSV starts with a UTF-8 byte-order mark, or
Excel reads Korean as mojibake.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from callplane.domain.call import Call
from callplane.domain.money import format_krw
from callplane.web.format import local_time

KINDS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
PAGE_ROWS = 500
COLUMNS = (
    "call_id",
    "created_at",
    "start_at",
    "end_at",
    "agent_id",
    "agent_version",
    "variant",
    "direction",
    "call_type",
    "from_number",
    "to_number",
    "status",
    "disconnection_reason",
    "duration_s",
    "cost_krw",
    "user_sentiment",
    "metadata",
)
_E164 = re.compile(r"\+[1-9]\d{6,14}")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def row(call: Call, timezone: str) -> dict[str, Any]:
    return {
        "call_id": call.id,
        "created_at": local_time(call.created_at, timezone, seconds=True),
        "start_at": local_time(call.start_at, timezone, seconds=True) if call.start_at else None,
        "end_at": local_time(call.end_at, timezone, seconds=True) if call.end_at else None,
        "agent_id": call.agent.agent_id,
        "agent_version": call.agent.version,
        "variant": call.variant_label,
        "direction": call.direction.value,
        "call_type": call.call_type.value,
        "from_number": call.from_number,
        "to_number": call.to_number,
        "status": call.status.value,
        "disconnection_reason": call.disconnection_reason.value if call.disconnection_reason else None,
        "duration_s": None if call.duration_ms is None else call.duration_ms / 1000,
        "cost_krw": None if call.cost_minor is None else format_krw(call.cost_minor),
        "user_sentiment": (
            call.analysis.user_sentiment.value if call.analysis and call.analysis.user_sentiment else None
        ),
        "metadata": call.metadata,
    }


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        value = orjson.dumps(value).decode()
    text = str(value)
    if text.startswith(_FORMULA_START) and not _E164.fullmatch(text):
        return "'" + text
    return text


def lines(kind: str, pages: Iterable[list[Call]], timezone: str) -> Iterator[bytes]:
    if kind == "jsonl":
        for page in pages:
            yield b"".join(orjson.dumps(row(c, timezone)) + b"\n" for c in page)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    yield "\ufeff".encode() + buffer.getvalue().encode()
    for page in pages:
        buffer.seek(0)
        buffer.truncate()
        for call in page:
            values = row(call, timezone)
            writer.writerow([_cell(values[name]) for name in COLUMNS])
        yield buffer.getvalue().encode()
