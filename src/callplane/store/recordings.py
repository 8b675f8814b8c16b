"""The calls' links to their recordings: the retention purge finds and clears them here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from callplane.store.schema import calls


@dataclass(frozen=True, slots=True)
class Stored:
    organization_id: str
    call_id: str
    key: str


def ended_before(conn: Connection, before: int, limit: int) -> list[Stored]:
    """Up to `limit` calls with a recording that ended before `before` (Unix ms), oldest first."""
    rows = conn.execute(
        select(calls.c.organization_id, calls.c.id, calls.c.recording_key)
        .where(calls.c.recording_key.is_not(None), calls.c.end_at < before)
        .order_by(calls.c.end_at)
        .limit(limit)
    ).all()
    return [Stored(r.organization_id, r.id, r.recording_key) for r in rows]


def forget(conn: Connection, stored: Stored) -> None:
    """The call no longer has a recording (its blob is gone)."""
    conn.execute(
        update(calls)
        .where(
            calls.c.organization_id == stored.organization_id,
            calls.c.id == stored.call_id,
            calls.c.recording_key == stored.key,
        )
        .values(recording_key=None)
    )
