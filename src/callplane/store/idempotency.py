"""Idempotency keys: (organisation, key) → the request's fingerprint and the call it created.

The key is written in the same transaction as the call, so a crash can leave neither or both.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select

from callplane.store.schema import idempotency_keys


@dataclass(frozen=True, slots=True)
class Remembered:
    fingerprint: str
    call_id: str
    created_at: int


def find(conn: Connection, organization_id: str, key: str) -> Remembered | None:
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.organization_id == organization_id, idempotency_keys.c.key == key
        )
    ).first()
    return Remembered(row.fingerprint, row.call_id, row.created_at) if row is not None else None


def forget(conn: Connection, organization_id: str, key: str) -> None:
    conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.organization_id == organization_id, idempotency_keys.c.key == key
        )
    )


def remember(
    conn: Connection, organization_id: str, key: str, fingerprint: str, call_id: str, now: int
) -> None:
    conn.execute(
        insert(idempotency_keys).values(
            organization_id=organization_id, key=key, fingerprint=fingerprint, call_id=call_id, created_at=now
        )
    )


def purge(conn: Connection, older_than: int) -> int:
    return conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at < older_than)).rowcount
