from __future__ import annotations

import pytest

from callplane.domain.errors import ValidationFailed
from callplane.domain.phone import mask, parse_e164, parse_kr, to_domestic


@pytest.mark.parametrize(
    ("given", "e164", "domestic"),
    [
        ("01012345678", "+821012345678", "01012345678"),
        ("07011112222", "+827011112222", "07011112222"),
        ("0212345678", "+82212345678", "0212345678"),
        ("15881234", "+8215881234", "15881234"),
        ("+821012345678", "+821012345678", "01012345678"),
    ],
)
def test_korean_numbers_round_trip(given: str, e164: str, domestic: str) -> None:
    assert parse_kr(given, "n") == e164
    assert to_domestic(e164) == domestic


@pytest.mark.parametrize(
    "bad", ["12345", "010-1234-5678", "0101234", "+14155550100", "", "abc", 1012345678, None]
)
def test_invalid_korean_numbers_name_the_field(bad: object) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_kr(bad, "to_number")
    assert info.value.errors[0].field == "to_number"


def test_e164_any_region() -> None:
    assert parse_e164("+14155550100", "n") == "+14155550100"
    assert to_domestic("+14155550100") == "+14155550100"
    with pytest.raises(ValidationFailed):
        parse_e164("01012345678", "n")


def test_mask_keeps_the_last_four() -> None:
    assert mask("+821012345678") == "+8210****5678"
