"""Signing list cursors with the deployment's key, so a client can only send back what it got.

The key is the `cursor` server secret every API process reads from the database (migration
0007), or `CALLPLANE_CURSOR_SECRET` when set (e.g. to share one key across databases). It is
read once per process, on the first cursor, and kept: rotating the stored secret (delete its
row) takes effect as the API processes restart.

The dashboard's session cookies are signed with another key derived from the same secret
(`derive`), so every API process agrees on them without a second stored secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from callplane.domain.errors import ValidationFailed
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

    def sign(self, position: str) -> str:
        """A list position other than a call list's (campaigns, tasks), signed like a cursor."""
        return f"{position}~{self._mac(position)}"

    def unsign(self, token: str, field: str = "cursor") -> str:
        """The position `sign` wrote, or ValidationFailed for anything this deployment did not issue."""
        position, mark, mac = token.rpartition("~")
        if not mark or not hmac.compare_digest(mac, self._mac(position)):
            raise ValidationFailed.single(field, "is not a cursor returned by this API")
        return position

    def _mac(self, position: str) -> str:
        digest = hmac.new(self.derive(b"positions"), position.encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
