"""Idempotency keys, in two tables keyed by (organisation, key).

- `idempotency_keys`: call creates. The key row and the call it names are written in one
  transaction, so a crash leaves neither or both.
- `idempotent_requests`: admin creates, Stripe-style: the request's fingerprint, an in-flight
  marker (`status_code` NULL) committed before the work starts, then the response to replay.

Both are claimed with `INSERT … ON CONFLICT DO NOTHING` rather than "look, then insert". Two
transactions that both look first can both miss the key and both insert; the second insert then
fails with a unique violation (issue 15: 500s on PostgreSQL). The conflict clause instead makes
PostgreSQL's second insert wait on the unique index until the first transaction ends, and then
either skip (the key is taken: read it, now committed) or insert (the first rolled back). On
SQLite every write transaction holds the single writer from its `BEGIN IMMEDIATE`, so claims are
serial anyway. An expired key is taken over with a conditional UPDATE, which also waits for a
concurrent taker and then re-checks its condition on the new row: one of them wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from callplane.domain.errors import Conflict
from callplane.store.prepared import Prepared, param
from callplane.store.schema import idempotency_keys, idempotent_requests

#: Claim attempts before giving up; a second round is only needed when the row a claim lost to
#: was deleted (purged or released) before it could be read.
_CLAIM_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Remembered:
    """A call create's key: who holds it."""

    fingerprint: str
    call_id: str
    created_at: int


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """An admin request's key: its fingerprint and, once finished, the response to replay."""

    fingerprint: str
    status_code: int | None  #: None while the first request is in flight
    body: str | None
    secret_withheld: bool
    created_at: int


def _claimed(conn: Connection, table: Table, values: dict[str, object]) -> bool:
    shape = (table.name, tuple(values))
    prepared = _CLAIMS.get(shape)
    if prepared is None:
        # Prepared once per table and set of columns (`store.prepared`): a create with a key runs
        # it every time, and Core's building of it cost several times its execution.
        prepared = _CLAIMS[shape] = Prepared(partial(_claim_statement, table, tuple(values)))
    # RETURNING, not rowcount: psycopg reports a row for an INSERT that DO NOTHING skipped.
    return prepared.first(conn, **values) is not None


def _claim_statement(table: Table, names: tuple[str, ...], dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {name: param(name, table.c[name].type) for name in names}
    return insert(table).values(values).on_conflict_do_nothing().returning(table.c.key)


_CLAIMS: dict[tuple[str, tuple[str, ...]], Prepared] = {}


def _taken_over(
    conn: Connection, table: Table, values: dict[str, object], stale: ColumnElement[bool]
) -> bool:
    org, key = values["organization_id"], values["key"]
    statement = (
        update(table).where(table.c.organization_id == org, table.c.key == key, stale).values(**values)
    )
    return conn.execute(statement).rowcount == 1


def claim_call_key(
    conn: Connection,
    organization_id: str,
    key: str,
    fingerprint: str,
    call_id: str,
    now: int,
    expired_before: int,
) -> Remembered | None:
    """Take `key` for the call `call_id` about to be inserted in this transaction: None when
    taken, else the earlier request's record (committed)."""
    values: dict[str, object] = {
        "organization_id": organization_id,
        "key": key,
        "fingerprint": fingerprint,
        "call_id": call_id,
        "created_at": now,
    }
    t = idempotency_keys
    for _ in range(_CLAIM_ROUNDS):
        if _claimed(conn, t, values) or _taken_over(conn, t, values, t.c.created_at < expired_before):
            return None
        row = conn.execute(select(t).where(t.c.organization_id == organization_id, t.c.key == key)).first()
        if row is not None:
            return Remembered(row.fingerprint, row.call_id, row.created_at)
    raise Conflict("this Idempotency-Key is being claimed by another request; retry")


def claim_request(
    conn: Connection,
    organization_id: str,
    key: str,
    fingerprint: str,
    now: int,
    expired_before: int,
    abandoned_before: int,
) -> StoredRequest | None:
    """Mark `key` in flight for this request: None when marked, else the earlier request's
    record. A record older than `expired_before`, or still in flight since before
    `abandoned_before` (its process died mid-request), is taken over."""
    values: dict[str, object] = {
        "organization_id": organization_id,
        "key": key,
        "fingerprint": fingerprint,
        "status_code": None,
        "body": None,
        "secret_withheld": False,
        "created_at": now,
    }
    t = idempotent_requests
    stale = (t.c.created_at < expired_before) | (
        t.c.status_code.is_(None) & (t.c.created_at < abandoned_before)
    )
    for _ in range(_CLAIM_ROUNDS):
        if _claimed(conn, t, values) or _taken_over(conn, t, values, stale):
            return None
        row = conn.execute(select(t).where(t.c.organization_id == organization_id, t.c.key == key)).first()
        if row is not None:
            return StoredRequest(
                row.fingerprint, row.status_code, row.body, row.secret_withheld, row.created_at
            )
    raise Conflict("this Idempotency-Key is being claimed by another request; retry")


def finish_request(
    conn: Connection, organization_id: str, key: str, status_code: int, body: str, secret_withheld: bool
) -> None:
    t = idempotent_requests
    conn.execute(
        update(t)
        .where(t.c.organization_id == organization_id, t.c.key == key, t.c.status_code.is_(None))
        .values(status_code=status_code, body=body, secret_withheld=secret_withheld)
    )


def release_request(conn: Connection, organization_id: str, key: str) -> None:
    """Drop an in-flight marker whose request failed: nothing was done, a retry may run it."""
    t = idempotent_requests
    conn.execute(
        delete(t).where(t.c.organization_id == organization_id, t.c.key == key, t.c.status_code.is_(None))
    )


def purge(conn: Connection, older_than: int, limit: int) -> int:
    """Delete up to `limit` keys of each kind created before `older_than` (Unix ms), oldest
    first; returns how many went. Batched like the webhook log's purge: short transactions."""
    purged = 0
    for t in (idempotency_keys, idempotent_requests):
        oldest = (
            select(t.c.organization_id, t.c.key)
            .where(t.c.created_at < older_than)
            .order_by(t.c.created_at)
            .limit(limit)
        )
        ids = [tuple(row) for row in conn.execute(oldest)]
        if ids:
            purged += conn.execute(delete(t).where(tuple_(t.c.organization_id, t.c.key).in_(ids))).rowcount
    return purged
