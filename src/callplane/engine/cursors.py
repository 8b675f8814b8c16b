"""Signing list cursors with the deployment's key, so a client can only send back what it got.

The key is the `cursor` server secret every API process reads from the database (migration
0007), or `CALLPLANE_CURSOR_SECRET` when set (e.g. to share one key across databases). It is
read once per process, on the first cursor, and kept: rotating the stored secret (delete its
row) takes effect as the API processes restart.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from callplane.domain.query import CallQuery, Cursor, decode_cursor, encode_cursor
from callplane.store import server_secrets
from callplane.store.db import Database


@dataclass
class Cursors:
    db: Database
    now: Callable[[], int]
    override: str | None = None
    _key: bytes | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def key(self) -> bytes:
        if self._key is None:
            with self._lock:
                if self._key is None:
                    secret = self.override
                    if secret is None:
                        with self.db.write() as conn:
                            secret = server_secrets.server_secret(conn, "cursor", self.now())
                    # Derived, so the stored secret is never used as a key for anything else.
                    self._key = hashlib.sha256(b"callplane cursor v1\x00" + secret.encode()).digest()
        return self._key

    def encode(self, query: CallQuery, cursor: Cursor) -> str:
        return encode_cursor(query, cursor, self.key())

    def decode(self, token: str, query: CallQuery, field: str) -> Cursor:
        return decode_cursor(token, query, self.key(), field)
