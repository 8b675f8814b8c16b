"""Idempotency-Keys for admin creates, the way Stripe does them.

(organisation, key) → the request's fingerprint (method, path, body hash), then an in-flight
marker, then the response. A repeat with the same fingerprint gets the stored response; a repeat
while the first is still running gets a 409 (`Conflict`); a different request with the key gets
`IdempotencyMismatch`. Records live 24 h, like call keys (`IDEMPOTENCY_TTL_MS`).

Unlike a call create, an admin create is its own transaction (`engine.services.admin`) whose answer is
rendered afterwards, so the marker must be committed before the work starts: that is what a
concurrent repeat sees, and why it gets a 409 rather than waiting.

Only successes are stored. A failed request drops its marker: every admin create is one
transaction, so a failure changed nothing and a retry may run it again (Stripe also keeps no
result for a request that failed validation). A marker left by a process that died mid-request
is taken over after `ABANDONED_AFTER_MS`.

Secrets shown once (a new API key, a webhook endpoint's signing secret) are never stored: the
response is kept without them, and a replay answers 409 naming what the first request created
— a retry cannot recover a secret, and a 201 carrying a null key would look like success to a
client that then stores nothing. Revoke it and create another.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from callplane.domain.errors import Conflict, IdempotencyMismatch
from callplane.engine.services.calls import IDEMPOTENCY_TTL_MS
from callplane.store import idempotency
from callplane.store.db import Database

log = logging.getLogger(__name__)

#: An in-flight marker older than this belongs to a request whose process died; admin creates
#: take milliseconds.
ABANDONED_AFTER_MS = 60_000


def fingerprint(method: str, path: str, body: Any) -> str:
    """The request, independent of JSON key order and whitespace."""
    material = orjson.dumps([method.upper(), path, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(material).hexdigest()


@dataclass(frozen=True, slots=True)
class Stored:
    status_code: int
    body: bytes


@dataclass
class RequestIdempotency:
    db: Database
    now: Callable[[], int]

    def begin(self, organization_id: str, key: str, request_fingerprint: str) -> Stored | None:
        """Mark the request in flight (None: go ahead), or the response to replay."""
        now = self.now()
        with self.db.write() as conn:
            seen = idempotency.claim_request(
                conn,
                organization_id,
                key,
                request_fingerprint,
                now,
                expired_before=now - IDEMPOTENCY_TTL_MS,
                abandoned_before=now - ABANDONED_AFTER_MS,
            )
        if seen is None:
            return None
        if seen.fingerprint != request_fingerprint:
            raise IdempotencyMismatch("this Idempotency-Key was used with a different request")
        if seen.status_code is None or seen.body is None:
            raise Conflict("a request with this Idempotency-Key is still in progress; retry shortly")
        if seen.secret_withheld:
            created = orjson.loads(seen.body).get("id", "")
            raise Conflict(
                f"this Idempotency-Key already created {created}; its secret was shown once, in the "
                "first response, and is not stored: revoke it and create another"
            )
        return Stored(seen.status_code, seen.body.encode())

    def finish(
        self, organization_id: str, key: str, status_code: int, body: bytes, *, secret_withheld: bool
    ) -> None:
        """Store the response. Best effort: the work is committed, so the client gets its answer
        even if this fails; the marker is then taken over once abandoned."""
        try:
            with self.db.write() as conn:
                idempotency.finish_request(
                    conn, organization_id, key, status_code, body.decode(), secret_withheld
                )
        except SQLAlchemyError:
            log.exception("could not store the response of Idempotency-Key %r", key)

    def release(self, organization_id: str, key: str) -> None:
        with self.db.write() as conn:
            idempotency.release_request(conn, organization_id, key)


#: Keys of each kind purged per transaction.
PURGE_BATCH = 500


def purge_expired(db: Database, now: int) -> int:
    """Delete one batch of call and admin keys past their 24 h; returns how many went (a full
    batch or more: call again)."""
    with db.write() as conn:
        return idempotency.purge(conn, now - IDEMPOTENCY_TTL_MS, PURGE_BATCH)
