"""Money: integer minor units (1/100 KRW) in the database, `Decimal` in code, strings on the wire.

Pricing rule (documented in the README): a connected call is billed per started second of
talk time, `rate_per_minute × seconds / 60`, rounded half-up to 0.01 KRW. Calls that never
connected cost nothing.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from callplane.domain import bounds
from callplane.domain.errors import ValidationFailed

MINOR_PER_KRW = 100
_CENT = Decimal("0.01")


def to_minor(amount: Decimal) -> int:
    return int((amount * MINOR_PER_KRW).to_integral_value(rounding=ROUND_HALF_UP))


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor) / MINOR_PER_KRW).quantize(_CENT)


def format_krw(minor: int) -> str:
    """`15000` → `"150.00"` (Vox v3 `call_cost.total_cost`)."""
    return str(from_minor(minor))


def billable_seconds(talk_ms: int) -> int:
    return max(0, math.ceil(talk_ms / 1000))


def call_cost_minor(rate_per_minute: Decimal, talk_ms: int) -> int:
    seconds = billable_seconds(talk_ms)
    cost = (rate_per_minute * seconds / 60).quantize(_CENT, rounding=ROUND_HALF_UP)
    return to_minor(cost)


def parse_krw(value: object, field: str) -> Decimal:
    """A non-negative KRW amount given as a number or a decimal string."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationFailed.single(field, 'must be a KRW amount such as "120.50"')
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValidationFailed.single(field, 'must be a KRW amount such as "120.50"') from None
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed.single(field, "must be a non-negative amount with at most 2 decimals")
    # Before quantize: 1e400 has no cents to quantize to (decimal raises InvalidOperation).
    if amount > bounds.MAX_KRW:
        raise ValidationFailed.single(field, f"must be at most {bounds.MAX_KRW} KRW")
    if amount != amount.quantize(_CENT):
        raise ValidationFailed.single(field, "must be a non-negative amount with at most 2 decimals")
    return amount
