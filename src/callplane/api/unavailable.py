"""A database that is away for a moment — restarting, its backends terminated — as the client
sees it: a 503 with `Retry-After` in the dialect's shape (`api/dialects/*/errors.py`), never a 500.

Here rather than in `api/dialects/base.py` because the dialects hold no store access: which
driver failures are transient is the store's knowledge (`store.db.transient`).
"""

from __future__ import annotations

from callplane.domain.errors import Unavailable
from callplane.store.db import transient

#: What a client is told to wait before sending a request the database could not take again.
RETRY_AFTER_S = 2


def as_unavailable(exc: Exception) -> Unavailable | None:
    """`Unavailable` when `exc` is a transient database failure the store's own retries
    (`Database.read_retrying`, `write_retrying`) did not cure; None for anything else."""
    if not transient(exc):
        return None
    return Unavailable("The database is temporarily unavailable; retry shortly.", RETRY_AFTER_S)
