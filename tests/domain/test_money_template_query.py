from __future__ import annotations

import base64
import json
from decimal import Decimal

import pytest

from callplane.domain.errors import ValidationFailed
from callplane.domain.money import call_cost_minor, format_krw, parse_krw
from callplane.domain.query import (
    MAX_SEARCH_RESULTS,
    CallQuery,
    Cursor,
    _signature,
    decode_cursor,
    encode_cursor,
)
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


KEY = b"k" * 32


def test_cursor_round_trip_and_binding_to_filters() -> None:
    query = CallQuery(organization_id="o", statuses=())
    token = encode_cursor(query, Cursor(123, "abc"), KEY)
    assert decode_cursor(token, query, KEY) == Cursor(123, "abc")
    with pytest.raises(ValidationFailed):
        decode_cursor(token, CallQuery(organization_id="o", search="x"), KEY)
    for bad in ("", "!!", "e30", "bnVsbA", "e30.", ".", "bnVsbA.AAAA"):
        with pytest.raises(ValidationFailed):
            decode_cursor(bad, query, KEY)


def _unsigned(payload: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_forged_or_altered_cursor_is_refused() -> None:
    query = CallQuery(organization_id="o")
    token = encode_cursor(query, Cursor(123, "abc"), KEY)
    payload, _, signature = token.partition(".")
    forged = _unsigned({"v": 2**64, "i": "abc", "f": query.filter_fingerprint()})
    for bad in (
        forged,  # the unsigned form cursors had before they were signed
        f"{forged}.{signature}",  # another position under a copied signature
        f"{payload}.{signature[:-1]}A" if signature[-1] != "A" else f"{payload}.{signature[:-1]}B",
    ):
        with pytest.raises(ValidationFailed, match="not a cursor returned by this API"):
            decode_cursor(bad, query, KEY)
    with pytest.raises(ValidationFailed):
        decode_cursor(token, query, b"another deployment's key")


def test_a_signed_cursor_past_any_time_is_still_refused() -> None:
    # Defence in depth: even a cursor signed with our key carries only a storable value.
    query = CallQuery(organization_id="o")
    payload = _unsigned({"v": 2**64, "i": "abc", "f": query.filter_fingerprint()}).encode()
    token = f"{payload.decode()}.{_signature(payload, KEY)}"
    with pytest.raises(ValidationFailed):
        decode_cursor(token, query, KEY)


def test_a_search_cursor_carries_the_rows_served_and_only_plausible_ones() -> None:
    query = CallQuery(organization_id="o", search="예약")
    token = encode_cursor(query, Cursor(123, "abc", position=250), KEY)
    assert decode_cursor(token, query, KEY) == Cursor(123, "abc", position=250)
    assert "n" not in json.loads(
        base64.urlsafe_b64decode(encode_cursor(query, Cursor(1, "a"), KEY).split(".")[0] + "==")
    )
    fingerprint = query.filter_fingerprint()
    for position in (-1, MAX_SEARCH_RESULTS + 1, True, "5"):
        payload = _unsigned({"v": 1, "i": "abc", "f": fingerprint, "n": position}).encode()
        with pytest.raises(ValidationFailed):
            decode_cursor(f"{payload.decode()}.{_signature(payload, KEY)}", query, KEY)


def test_parse_krw_refuses_amounts_no_column_can_hold() -> None:
    for bad in ("1e400", "-1e400", "Infinity", "-Infinity", "sNaN", 1e300, "1" + "0" * 20, "1E+999999999"):
        with pytest.raises(ValidationFailed):
            parse_krw(bad, "balance")
