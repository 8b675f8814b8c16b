"""Transcript search: what makes a transcript findable, and the predicate that finds it.

The semantics are in `callplane.domain.search`. Every path that stores a transcript goes through
`index_transcript`, so whatever index the search uses is kept in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, true, update

from callplane.domain.search import normalize, search_text
from callplane.store.schema import calls


def index_transcript(
    conn: Connection, organization_id: str, call_id: str, transcript: Iterable[Mapping[str, Any]] | None
) -> None:
    """Store a call's searchable text (None for no transcript, e.g. opted out)."""
    text = search_text(transcript) if transcript else None
    conn.execute(
        update(calls)
        .where(calls.c.organization_id == organization_id, calls.c.id == call_id)
        .values(search_text=text)
    )


def condition(query: str, dialect: str) -> ColumnElement[bool]:
    needle = normalize(query)
    if not needle:
        return true()
    position = func.instr if dialect == "sqlite" else func.strpos
    return position(calls.c.search_text, literal(needle)) > 0
