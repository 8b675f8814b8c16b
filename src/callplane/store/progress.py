"""A live call's record as it grows: the transcript and collected values, stored while it runs.

The worker writes the latest copy of a call's record now and then (`engine.jobs.progress`), so a
call cut short — its worker stopped, killed or partitioned away — keeps everything said before.
Each write replaces the whole record: a call's record is small, and one statement per call per
batch is cheaper than a row per utterance that every read would have to fold back in.

A write is fenced like a status change: only the attempt that holds the call's lease, and only
while the call is `ongoing` — a stale worker's late write, or one racing the terminal transition,
changes nothing. Only unindexed columns change (no `updated_at`: the record is not a status
change), so PostgreSQL can update the row in place (HOT).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from callplane.domain.call import CallStatus, TranscriptEntry
from callplane.store.schema import calls


@dataclass(frozen=True, slots=True)
class Record:
    organization_id: str
    call_id: str
    attempt: int  #: the fence: the attempt whose worker took these words down
    transcript: list[TranscriptEntry]
    collected: dict[str, Any]


def store(conn: Connection, records: Sequence[Record]) -> int:
    """Write each record if its attempt still holds its live call; returns how many were written.

    The rows are taken in the order of their call ids, the order every multi-row write of the
    worker takes its rows in (`engine.jobs.lanes`): on PostgreSQL no two of them wait for each
    other's rows in a cycle."""
    written = 0
    for record in sorted(records, key=lambda r: r.call_id):
        result = conn.execute(
            update(calls)
            .where(
                calls.c.organization_id == record.organization_id,
                calls.c.id == record.call_id,
                calls.c.attempt == record.attempt,
                calls.c.status == CallStatus.ONGOING.value,
            )
            .values(transcript=record.transcript, collected=record.collected)
        )
        written += result.rowcount
    return written


def transcript(conn: Connection, organization_id: str, call_id: str) -> list[TranscriptEntry] | None:
    """The transcript stored so far."""
    row = conn.execute(
        select(calls.c.transcript).where(calls.c.organization_id == organization_id, calls.c.id == call_id)
    ).first()
    return list(row.transcript) if row is not None and row.transcript is not None else None
