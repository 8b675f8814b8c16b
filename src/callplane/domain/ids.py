"""Identifiers: UUIDv7, time-ordered, so new rows land at the right edge of every index."""

from __future__ import annotations

import uuid

from uuid_utils import compat


def new_id() -> str:
    return str(compat.uuid7())


def normalize_uuid(value: str) -> str | None:
    """The canonical lower-case form of a UUID string, or None when it is not one."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        return None
