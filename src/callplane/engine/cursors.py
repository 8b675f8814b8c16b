"""Signing list cursors with the deployment's key, so a client can only send back what it got.

The key is the `cursor` server secret every API process reads from the database (migration
0007), or `CALLPLANE_CURSOR_SECRET` when set (e.g. to share one key across databases). It is
read once per process, on the first cursor, and kept: rotating the stored secret (delete its
row) takes effect as the API processes restart.

The dashboard's session cookies are signed with another key derived from the same secret
(`derive`), so every API process agrees on them without a second stored secret.
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
    _secret: str | None = field(default=None, init=False, repr=False)
    _key: bytes | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def key(self) -> bytes:
        if self._key is None:
            self._key = self.derive(b"callplane cursor v1")
        return self._key

    def derive(self, purpose: bytes) -> bytes:
        """A key for one purpose from the deployment's secret; a purpose names one use only, so
        the stored secret is never itself a key and no two uses share one."""
        return hashlib.sha256(purpose + b"\x00" + self._deployment_secret().encode()).digest()

    def _deployment_secret(self) -> str:
        if self._secret is None:
            with self._lock:
                if self._secret is None:
                    secret = self.override
                    if secret is None:
                        with self.db.write() as conn:
                            secret = server_secrets.server_secret(conn, "cursor", self.now())
                    self._secret = secret
        return self._secret

    def encode(self, query: CallQuery, cursor: Cursor) -> str:
        return encode_cursor(query, cursor, self.key())

    def decode(self, token: str, query: CallQuery, field: str) -> Cursor:
        return decode_cursor(token, query, self.key(), field)
