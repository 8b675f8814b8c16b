"""Where a carrier's callbacks and media socket find the live call they belong to.

Each dial gets a per-attempt token, `organization_id.call_id.attempt.nonce.mac`, signed with
the account's auth token (so a forged or guessed token is refused before any lookup) and
registered here with the call's line. Twilio carries it back in the status callback URL and in
the stream's `customParameters`. The switchboard is per process: the line lives in the process
that dialled, so the routes that receive the carrier's requests must run in that process too
(docs/architecture.md, "Real calls": `serve` hosts both; separate workers each serve their own).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

L = TypeVar("L")


@dataclass(frozen=True, slots=True)
class Ticket:
    organization_id: str
    call_id: str
    attempt: int


INBOUND = "inbound"  #: the nonce of an incoming call's token: both processes must derive it


def issue(secret: str, ticket: Ticket, nonce: str | None = None) -> str:
    """A token for the call's attempt; a random nonce unless given (the ids are unique anyway,
    the MAC is what makes the token unguessable)."""
    body = f"{ticket.organization_id}.{ticket.call_id}.{ticket.attempt}.{nonce or secrets.token_hex(8)}"
    return f"{body}.{_mac(secret, body)}"


def check(secret: str, token: str) -> Ticket | None:
    """The call a token names, or None when it was not issued with this secret."""
    body, _, mac = token.rpartition(".")
    parts = body.split(".")
    if len(parts) != 4 or not parts[2].isdecimal() or not hmac.compare_digest(_mac(secret, body), mac):
        return None
    return Ticket(parts[0], parts[1], int(parts[2]))


def _mac(secret: str, body: str) -> str:
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]


class Switchboard(Generic[L]):
    """Token → live line, shared by the worker's loop and the API's (hence the lock)."""

    def __init__(self) -> None:
        self._lines: dict[str, L] = {}
        self._lock = threading.Lock()

    def add(self, token: str, line: L) -> None:
        with self._lock:
            self._lines[token] = line

    def get(self, token: str) -> L | None:
        with self._lock:
            return self._lines.get(token)

    def remove(self, token: str) -> None:
        with self._lock:
            self._lines.pop(token, None)
