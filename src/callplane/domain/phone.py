"""Phone numbers: stored as E.164, parsed and rendered per dialect with libphonenumber.

Vox speaks Korean domestic digits without hyphens (`01012345678`, `07011112222`, `15881234`);
Retell and Zudu speak E.164. Korean input is strict about the documented form — digits only —
but also accepts `+82…` E.164, which is unambiguous.
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from callplane.domain.errors import ValidationFailed

_DIGITS = re.compile(r"\d{3,15}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


def parse_kr(value: object, field: str) -> str:
    """Parse a Korean domestic number (or +82 E.164) into E.164, or raise ValidationFailed."""
    if not isinstance(value, str):
        raise ValidationFailed.single(field, "must be a string of digits, e.g. 01012345678")
    text = value.strip()
    if text.startswith("+"):
        if not text.startswith("+82"):
            raise ValidationFailed.single(field, "must be a Korean number (domestic digits or +82…)")
        return parse_e164(text, field)
    if not _DIGITS.fullmatch(text):
        raise ValidationFailed.single(field, "must be domestic digits without hyphens, e.g. 01012345678")
    return _validated(text, "KR", field)


def parse_e164(value: object, field: str) -> str:
    """Parse an E.164 number (`+821012345678`), any region, or raise ValidationFailed."""
    if not isinstance(value, str) or not _E164.fullmatch(value.strip()):
        raise ValidationFailed.single(field, "must be an E.164 number, e.g. +821012345678")
    return _validated(value.strip(), None, field)


def parse_any(value: object, field: str) -> str:
    """E.164 when it starts with `+`, Korean domestic digits otherwise."""
    if isinstance(value, str) and value.strip().startswith("+"):
        return parse_e164(value, field)
    return parse_kr(value, field)


def _validated(text: str, region: str | None, field: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationFailed.single(field, "is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        where = "Korean " if region == "KR" else ""
        raise ValidationFailed.single(field, f"is not a valid {where}phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=65536)
def to_domestic(e164: str) -> str:
    """`+821012345678` → `01012345678`; numbers outside Korea stay in E.164.

    Cached: libphonenumber's parse costs tens of microseconds, and list pages render many.
    """
    if not e164.startswith("+82"):
        return e164
    number = phonenumbers.parse(e164, None)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(ch for ch in national if ch.isdecimal())


def mask(e164: str) -> str:
    """`+821012345678` → `+8210****5678`, for logs."""
    if len(e164) <= 8:
        return "****"
    return e164[:5] + "*" * (len(e164) - 9) + e164[-4:]
