"""What a carrier reports about a call after the fact (its own price), kept for reconciliation."""

from __future__ import annotations

from sqlalchemy import Connection, update

from callplane.store.schema import calls


def set_carrier_price(conn: Connection, organization_id: str, call_id: str, price: str) -> None:
    conn.execute(
        update(calls)
        .where(calls.c.organization_id == organization_id, calls.c.id == call_id)
        .values(carrier_price=price)
    )
