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

from sqlalchemy import Connection, Insert, Select, exists, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from callplane.domain.ids import new_id
from callplane.store.prepared import Prepared, param
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
    params = {"o": organization_id, "i": new_id(), "c": call_id, "amount": -cost_minor, "now": now}
    if conn.dialect.name == "postgresql":
        # Both in one statement: one round trip less for every answered call.
        row = _CHARGE_AND_DEBIT.first(conn, cost=cost_minor, **params)
        return row is not None and bool(row[0])
    # RETURNING, not rowcount: psycopg reports a row for an INSERT that DO NOTHING skipped.
    charged = _CHARGE.first(conn, **params)
    if charged is None:
        return False
    # Postpaid organisations (balance NULL) keep NULL, and their row is not rewritten (nor
    # locked: the worker settles many calls of one organisation in concurrent transactions).
    _DEBIT.rowcount(conn, o=organization_id, cost=cost_minor)
    return True


def _charge(dialect: str) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(ledger)
        .values(
            organization_id=param("o", ledger.c.organization_id.type),
            id=param("i", ledger.c.id.type),
            call_id=param("c", ledger.c.call_id.type),
            kind=LedgerKind.CALL.value,
            amount_minor=param("amount", ledger.c.amount_minor.type),
            created_at=param("now", ledger.c.created_at.type),
        )
        .on_conflict_do_nothing(index_elements=["organization_id", "call_id", "kind"])
        .returning(ledger.c.id)
    )


#: Run once per answered call by the worker: prepared (`store.prepared`).
_CHARGE = Prepared(_charge)
_DEBIT = Prepared(
    lambda _dialect: (
        update(organizations)
        .where(organizations.c.id == param("o", organizations.c.id.type))
        .where(organizations.c.balance_minor.is_not(None))
        .values(
            balance_minor=organizations.c.balance_minor - param("cost", organizations.c.balance_minor.type)
        )
    )
)


def _charge_and_debit(_dialect: str) -> Select[int]:
    """PostgreSQL: the charge and, only if it was made, the debit, as one statement (a
    data-modifying CTE runs once whether or not the query reads it); says whether it charged."""
    charged = _charge("postgresql").cte("charged")
    debited = (
        update(organizations)
        .where(organizations.c.id == param("o", organizations.c.id.type))
        .where(organizations.c.balance_minor.is_not(None))
        .where(exists(select(charged.c.id)))
        .values(
            balance_minor=organizations.c.balance_minor - param("cost", organizations.c.balance_minor.type)
        )
        .returning(organizations.c.id)
        .cte("debited")
    )
    return select(func.count()).select_from(charged).add_cte(debited)


_CHARGE_AND_DEBIT = Prepared(_charge_and_debit)


def entries(conn: Connection, organization_id: str, call_id: str | None = None) -> list[Entry]:
    query = select(ledger).where(ledger.c.organization_id == organization_id)
    if call_id is not None:
        query = query.where(ledger.c.call_id == call_id)
    rows = conn.execute(query.order_by(ledger.c.created_at, ledger.c.id)).all()
    return [Entry(r.call_id, LedgerKind(r.kind), r.amount_minor, r.created_at) for r in rows]
