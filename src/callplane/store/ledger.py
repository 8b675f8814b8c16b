"""The balance ledger: one row per settled call, so a balance is charged exactly once per call.

`settle` inserts the call's charge and, only if that insert created the row, lowers the
organisation's balance in the same transaction. UNIQUE(organization_id, call_id, kind) makes a
second settlement of the same call a no-op on both databases (`ON CONFLICT DO NOTHING
RETURNING`), however
often post-call runs, and whichever worker runs it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from callplane.domain.ids import new_id
from callplane.store.schema import ledger, organizations


class LedgerKind(enum.StrEnum):
    CALL = "call"  #: the charge for one call's talk time


@dataclass(frozen=True, slots=True)
class Entry:
    call_id: str
    kind: LedgerKind
    amount_minor: int
    created_at: int


def settle(conn: Connection, organization_id: str, call_id: str, cost_minor: int, now: int) -> bool:
    """Charge a call once. Returns False when it was charged before (nothing changes then)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(ledger)
        .values(
            organization_id=organization_id,
            id=new_id(),
            call_id=call_id,
            kind=LedgerKind.CALL.value,
            amount_minor=-cost_minor,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "call_id", "kind"])
        .returning(ledger.c.id)
    )
    # RETURNING, not rowcount: psycopg reports a row for an INSERT that DO NOTHING skipped.
    if conn.execute(statement).first() is None:
        return False
    # Postpaid organisations (balance NULL) keep NULL, and their row is not rewritten (nor
    # locked: the worker settles many calls of one organisation in concurrent transactions).
    conn.execute(
        update(organizations)
        .where(organizations.c.id == organization_id, organizations.c.balance_minor.is_not(None))
        .values(balance_minor=organizations.c.balance_minor - cost_minor)
    )
    return True


def entries(conn: Connection, organization_id: str, call_id: str | None = None) -> list[Entry]:
    query = select(ledger).where(ledger.c.organization_id == organization_id)
    if call_id is not None:
        query = query.where(ledger.c.call_id == call_id)
    rows = conn.execute(query.order_by(ledger.c.created_at, ledger.c.id)).all()
    return [Entry(r.call_id, LedgerKind(r.kind), r.amount_minor, r.created_at) for r in rows]
