"""What the carrier-facing side needs from the database: which provider a number is on, inbound
calls to owned numbers, and the carrier's own price on a call."""

from __future__ import annotations

from collections.abc import Callable

from callplane.engine.live.telephony.registry import SIMULATED
from callplane.store import carrier as carrier_store
from callplane.store import numbers as number_store
from callplane.store.db import Database


def line_of(db: Database) -> Callable[[str], str]:
    """`from_number → provider name` for the conductor's `Carriers` (a number nobody owns — a
    demo without numbers — stays on the simulated line)."""

    def provider(number: str) -> str:
        with db.read() as conn:
            owned = number_store.number_line(conn, number)
        return owned.provider if owned is not None else SIMULATED

    return provider


def record_carrier_price(db: Database, organization_id: str, call_id: str, price: str) -> None:
    """The carrier's own charge for the call (e.g. `-0.01300 USD`): reconciliation only; the
    call's `cost_minor` is callplane's price of the talk time it measured."""
    with db.write() as conn:
        carrier_store.set_carrier_price(conn, organization_id, call_id, price[:40])
