"""Who may do what: the two kinds of principal and the scopes of an organisation's API keys.

The *operator* runs the deployment (the CLI on the database, or `CALLPLANE_OPERATOR_TOKEN` on
`/operator/v1`): organisations, balances, rates, limits, number ownership and caller-ID
approval. An *organisation* acts through its API keys, each holding scopes over its own data
only; no scope reaches an operator power, so no key can set its own price or claim a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from callplane.domain.errors import Forbidden, ValidationFailed


class Scope(StrEnum):
    CALLS_READ = "calls:read"  #: list and read calls, in every dialect
    CALLS_WRITE = "calls:write"  #: create, cancel, end calls
    AGENTS_ADMIN = "agents:admin"  #: agents, versions, publishing, traffic splits
    NUMBERS_ADMIN = "numbers:admin"  #: see numbers, request caller IDs, the suppression list
    WEBHOOKS_ADMIN = "webhooks:admin"  #: webhook endpoints, secrets and the delivery log
    KEYS_ADMIN = "keys:admin"  #: the organisation's own API keys
    ORGANIZATION_ADMIN = "organization:admin"  #: the organisation's name and calling window


TENANT_SCOPES: frozenset[Scope] = frozenset(Scope)
#: What a key gets when its creator names no scopes: enough for a CRM to place and read calls.
DEFAULT_SCOPES: frozenset[Scope] = frozenset({Scope.CALLS_READ, Scope.CALLS_WRITE})

#: The organisation settings an organisation may change itself; everything else (balance,
#: rate, limits) is billing or capacity and belongs to the operator.
TENANT_SETTINGS = frozenset({"name", "calling_window"})

NUMBERS_ARE_ASSIGNED = "phone numbers are assigned to organizations by the operator"
CALLER_IDS_ARE_APPROVED = (
    "presentation numbers are approved by the operator; request one without 'approved' and it is "
    "recorded as requested"
)


@dataclass(frozen=True, slots=True)
class Principal:
    """An organisation's API key, as authenticated: the only source of the organisation id."""

    organization_id: str
    credential_id: str
    scopes: frozenset[Scope]

    def require(self, scope: Scope) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this API key lacks the scope {scope.value!r}")

    def grant(self, requested: frozenset[Scope]) -> frozenset[Scope]:
        """The scopes of a key this key creates: never more than it holds itself."""
        beyond = requested - self.scopes
        if beyond:
            names = ", ".join(sorted(s.value for s in beyond))
            raise Forbidden(f"a key cannot grant scopes it does not hold: {names}")
        return requested


def parse_scopes(raw: object, field: str = "scopes") -> frozenset[Scope]:
    """Scopes from a request: a list of scope names; None or absent means the default scopes."""
    if raw is None:
        return DEFAULT_SCOPES
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise ValidationFailed.single(field, "must be a list of scope names", [s.value for s in Scope])
    allowed = [s.value for s in Scope]
    unknown = [s for s in raw if s not in allowed]
    if unknown:
        raise ValidationFailed.single(field, f"unknown scope {unknown[0]!r}", allowed)
    scopes = frozenset(Scope(s) for s in raw)
    if not scopes:
        raise ValidationFailed.single(field, "must name at least one scope", allowed)
    return scopes


def format_scopes(scopes: Iterable[Scope]) -> str:
    """Stored form: scope names separated by spaces (as OAuth writes them), in a stable order."""
    return " ".join(sorted(s.value for s in scopes))


@lru_cache(maxsize=256)
def stored_scopes(text: str) -> frozenset[Scope]:
    """The stored form read back, on every request (hence cached: keys share few distinct sets).

    A name this version does not know (written by a newer one) grants nothing here.
    """
    known = {s.value for s in Scope}
    return frozenset(Scope(s) for s in text.split() if s in known)
