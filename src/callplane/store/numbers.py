"""Owned phone numbers, approved presentation numbers, traffic splits and the suppression list.

An owned number, and an approved presentation number, belong to one organisation at most (unique
indexes, migration 0005). A second claim is a `Conflict`: checked first for a clear message, and
the index settles a race between two claims (its violation becomes the same `Conflict`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from callplane.domain.agent import SplitVariant, TrafficSplit
from callplane.domain.errors import Conflict, NotFound, ValidationFailed
from callplane.domain.ids import new_id
from callplane.store.schema import phone_numbers, presentation_numbers, suppressions, traffic_splits


@dataclass(frozen=True, slots=True)
class OwnedNumber:
    number: str
    label: str
    created_at: int
    provider: str = "simulated"  #: the telephony provider (registry name) calls from it go through
    inbound_agent_id: str | None = None  #: answers calls to it; None: they are rejected
    organization_id: str = ""


def _owned(row: Any) -> OwnedNumber:
    return OwnedNumber(
        row.number, row.label, row.created_at, row.provider, row.inbound_agent_id, row.organization_id
    )


@dataclass(frozen=True, slots=True)
class PresentationNumber:
    number: str
    approved: bool
    created_at: int


@dataclass(frozen=True, slots=True)
class Suppression:
    number: str
    reason: str
    created_at: int


def _owned_elsewhere(number: str) -> Conflict:
    return Conflict(f"number {number} is owned by another organization; remove it there first")


def add_number(
    conn: Connection,
    organization_id: str,
    number: str,
    label: str,
    now: int,
    *,
    provider: str = "simulated",
    inbound_agent_id: str | None = None,
) -> OwnedNumber:
    owner = conn.execute(
        select(phone_numbers.c.organization_id).where(phone_numbers.c.number == number)
    ).first()
    if owner is not None and owner.organization_id == organization_id:
        raise ValidationFailed.single("number", "the organization already owns this number")
    if owner is not None:
        raise _owned_elsewhere(number)
    try:
        conn.execute(
            insert(phone_numbers).values(
                organization_id=organization_id,
                number=number,
                label=label,
                created_at=now,
                provider=provider,
                inbound_agent_id=inbound_agent_id,
            )
        )
    except IntegrityError:
        raise _owned_elsewhere(number) from None
    return OwnedNumber(number, label, now, provider, inbound_agent_id, organization_id)


def set_inbound_agent(conn: Connection, organization_id: str, number: str, agent_id: str | None) -> None:
    result = conn.execute(
        update(phone_numbers)
        .where(phone_numbers.c.organization_id == organization_id, phone_numbers.c.number == number)
        .values(inbound_agent_id=agent_id)
    )
    if result.rowcount == 0:
        raise NotFound(f"number {number} not found")


def number_line(conn: Connection, number: str) -> OwnedNumber | None:
    """The owned number, whichever organisation owns it (a number has one owner at most): how a
    carrier's call to it, or a dial from it, finds its organisation and provider."""
    row = conn.execute(select(phone_numbers).where(phone_numbers.c.number == number)).first()
    return _owned(row) if row is not None else None


def remove_number(conn: Connection, organization_id: str, number: str) -> None:
    result = conn.execute(
        delete(phone_numbers).where(
            phone_numbers.c.organization_id == organization_id, phone_numbers.c.number == number
        )
    )
    if result.rowcount == 0:
        raise NotFound(f"number {number} not found")


def owns_number(conn: Connection, organization_id: str, number: str) -> bool:
    row = conn.execute(
        select(phone_numbers.c.number).where(
            phone_numbers.c.organization_id == organization_id, phone_numbers.c.number == number
        )
    ).first()
    return row is not None


def list_numbers(conn: Connection, organization_id: str) -> list[OwnedNumber]:
    rows = conn.execute(
        select(phone_numbers)
        .where(phone_numbers.c.organization_id == organization_id)
        .order_by(phone_numbers.c.number)
    ).all()
    return [_owned(r) for r in rows]


def _approved_elsewhere(number: str) -> Conflict:
    return Conflict(f"presentation number {number} is approved for another organization")


def _presentation(conn: Connection, organization_id: str, number: str) -> PresentationNumber | None:
    row = conn.execute(
        select(presentation_numbers).where(
            presentation_numbers.c.organization_id == organization_id, presentation_numbers.c.number == number
        )
    ).first()
    return PresentationNumber(row.number, row.approved_at is not None, row.created_at) if row else None


def request_presentation_number(
    conn: Connection, organization_id: str, number: str, now: int
) -> PresentationNumber:
    """Record a caller ID the organisation asks for; one it already has is left as it is."""
    existing = _presentation(conn, organization_id, number)
    if existing is not None:
        return existing
    conn.execute(
        insert(presentation_numbers).values(
            organization_id=organization_id, number=number, approved_at=None, created_at=now
        )
    )
    return PresentationNumber(number, False, now)


def set_presentation_approval(
    conn: Connection, organization_id: str, number: str, now: int, *, approved: bool
) -> PresentationNumber:
    """Approve (or withdraw) a caller ID for the organisation, recording it first if needed."""
    if approved:
        taken = conn.execute(
            select(presentation_numbers.c.organization_id).where(
                presentation_numbers.c.number == number,
                presentation_numbers.c.organization_id != organization_id,
                presentation_numbers.c.approved_at.is_not(None),
            )
        ).first()
        if taken is not None:
            raise _approved_elsewhere(number)
    existing = request_presentation_number(conn, organization_id, number, now)
    try:
        conn.execute(
            update(presentation_numbers)
            .where(
                presentation_numbers.c.organization_id == organization_id,
                presentation_numbers.c.number == number,
            )
            .values(approved_at=now if approved else None)
        )
    except IntegrityError:  # only an approval can break the index: a concurrent one won
        raise _approved_elsewhere(number) from None
    return PresentationNumber(number, approved, existing.created_at)


def is_approved_presentation(conn: Connection, organization_id: str, number: str) -> bool:
    row = conn.execute(
        select(presentation_numbers.c.approved_at).where(
            presentation_numbers.c.organization_id == organization_id, presentation_numbers.c.number == number
        )
    ).first()
    return row is not None and row.approved_at is not None


def list_presentation_numbers(conn: Connection, organization_id: str) -> list[PresentationNumber]:
    rows = conn.execute(
        select(presentation_numbers)
        .where(presentation_numbers.c.organization_id == organization_id)
        .order_by(presentation_numbers.c.number)
    ).all()
    return [PresentationNumber(r.number, r.approved_at is not None, r.created_at) for r in rows]


def _split(row: Any) -> TrafficSplit:
    variants = tuple(
        SplitVariant(v["agent_id"], v["agent_version"], v["weight"], v["label"]) for v in row.variants
    )
    return TrafficSplit(row.id, row.organization_id, row.from_number, variants, row.active)


def set_traffic_split(
    conn: Connection, organization_id: str, from_number: str, variants: Sequence[SplitVariant], now: int
) -> TrafficSplit:
    """Make this the number's active policy; an earlier active policy is deactivated, not deleted."""
    conn.execute(
        update(traffic_splits)
        .where(
            traffic_splits.c.organization_id == organization_id, traffic_splits.c.from_number == from_number
        )
        .values(active=False)
    )
    split_id = new_id()
    conn.execute(
        insert(traffic_splits).values(
            organization_id=organization_id,
            id=split_id,
            from_number=from_number,
            variants=[
                {
                    "agent_id": v.agent_id,
                    "agent_version": v.version_spec,
                    "weight": v.weight,
                    "label": v.label,
                }
                for v in variants
            ],
            active=True,
            created_at=now,
        )
    )
    return TrafficSplit(split_id, organization_id, from_number, tuple(variants), True)


def deactivate_traffic_split(conn: Connection, organization_id: str, from_number: str) -> None:
    conn.execute(
        update(traffic_splits)
        .where(
            traffic_splits.c.organization_id == organization_id, traffic_splits.c.from_number == from_number
        )
        .values(active=False)
    )


def active_traffic_split(conn: Connection, organization_id: str, from_number: str) -> TrafficSplit | None:
    row = conn.execute(
        select(traffic_splits)
        .where(
            traffic_splits.c.organization_id == organization_id,
            traffic_splits.c.from_number == from_number,
            traffic_splits.c.active.is_(True),
        )
        .order_by(traffic_splits.c.created_at.desc())
    ).first()
    return _split(row) if row is not None else None


def list_traffic_splits(conn: Connection, organization_id: str) -> list[TrafficSplit]:
    rows = conn.execute(
        select(traffic_splits)
        .where(traffic_splits.c.organization_id == organization_id, traffic_splits.c.active.is_(True))
        .order_by(traffic_splits.c.from_number)
    ).all()
    return [_split(r) for r in rows]


def suppress(conn: Connection, organization_id: str, number: str, reason: str, now: int) -> Suppression:
    conn.execute(
        delete(suppressions).where(
            suppressions.c.organization_id == organization_id, suppressions.c.number == number
        )
    )
    conn.execute(
        insert(suppressions).values(
            organization_id=organization_id, number=number, reason=reason, created_at=now
        )
    )
    return Suppression(number, reason, now)


def unsuppress(conn: Connection, organization_id: str, number: str) -> None:
    result = conn.execute(
        delete(suppressions).where(
            suppressions.c.organization_id == organization_id, suppressions.c.number == number
        )
    )
    if result.rowcount == 0:
        raise NotFound(f"{number} is not suppressed")


def is_suppressed(conn: Connection, organization_id: str, number: str) -> bool:
    row = conn.execute(
        select(suppressions.c.number).where(
            suppressions.c.organization_id == organization_id, suppressions.c.number == number
        )
    ).first()
    return row is not None


def list_suppressions(conn: Connection, organization_id: str) -> list[Suppression]:
    rows = conn.execute(
        select(suppressions)
        .where(suppressions.c.organization_id == organization_id)
        .order_by(suppressions.c.number)
    ).all()
    return [Suppression(r.number, r.reason, r.created_at) for r in rows]
