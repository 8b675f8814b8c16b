from __future__ import annotations

from decimal import Decimal

import pytest

from callplane.domain.errors import ValidationFailed
from callplane.domain.money import call_cost_minor, format_krw, parse_krw
from callplane.domain.query import CallQuery, Cursor, decode_cursor, encode_cursor
from callplane.domain.template import render, variables_in


def test_cost_is_per_started_second_rounded_half_up() -> None:
    assert format_krw(call_cost_minor(Decimal("120.00"), 60_000)) == "120.00"
    assert format_krw(call_cost_minor(Decimal("120.00"), 1)) == "2.00"  # one started second
    assert format_krw(call_cost_minor(Decimal("100.00"), 1_000)) == "1.67"  # 1.666… rounds up
    assert call_cost_minor(Decimal("120.00"), 0) == 0


def test_parse_krw() -> None:
    assert parse_krw("150.5", "x") == Decimal("150.5")
    for bad in ("-1", "1.001", "abc", True, None, "NaN"):
        with pytest.raises(ValidationFailed):
            parse_krw(bad, "x")


def test_template_substitutes_korean_names_and_keeps_missing_ones() -> None:
    text = "{{customer_name}}님, {{ appointment_at }} 예약 {{unknown}}"
    assert (
        render(text, {"customer_name": "홍길동", "appointment_at": "14:00"})
        == "홍길동님, 14:00 예약 {{unknown}}"
    )
    assert variables_in(text) == {"customer_name", "appointment_at", "unknown"}


def test_cursor_round_trip_and_binding_to_filters() -> None:
    query = CallQuery(organization_id="o", statuses=())
    token = encode_cursor(query, Cursor(123, "abc"))
    assert decode_cursor(token, query) == Cursor(123, "abc")
    with pytest.raises(ValidationFailed):
        decode_cursor(token, CallQuery(organization_id="o", search="x"))
    for bad in ("", "!!", "e30", "bnVsbA"):
        with pytest.raises(ValidationFailed):
            decode_cursor(bad, query)
