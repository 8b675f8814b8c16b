"""Organisations and their credentials.

A credential is shown once and stored only as SHA-256 hashes: a bearer key (`cp_…`) or a
key + secret pair (`cpk_…` + `cps_…`, the Zudu dialect's `X-API-KEY` / `X-API-SECRET`).
Lookup goes by the key's first 12 characters (a unique, non-secret prefix); the hash is then
compared in constant time. Keys carry ~190 bits of randomness, so a fast hash is enough — a
slow password hash would only add latency to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from callplane.domain import money
from callplane.domain.errors import NotFound, Unauthorized, ValidationFailed
from callplane.domain.ids import new_id
from callplane.domain.org import CallingWindow, Limits, Organization
from callplane.domain.principal import Principal, Scope, format_scopes, stored_scopes
from callplane.store.prepared import Prepared, param
from callplane.store.schema import credentials, organizations

_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 12
_LAST_USED_GRANULARITY_MS = 10 * 60 * 1000


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """The only time a secret exists in clear: returned once, at creation."""

    id: str
    organization_id: str
    kind: str
    name: str
    key: str
    secret: str | None
    scopes: frozenset[Scope]


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    id: str
    organization_id: str
    kind: str
    name: str
    prefix: str
    created_at: int
    revoked_at: int | None
    last_used_at: int | None
    scopes: frozenset[Scope]


def create_organization(
    conn: Connection,
    *,
    name: str,
    now: int,
    window: CallingWindow | None = None,
    limits: Limits | None = None,
    balance_minor: int | None = None,
    rate_per_minute: Decimal = Decimal("100.00"),
    org_id: str | None = None,
) -> Organization:
    window = window or CallingWindow()
    limits = limits or Limits()
    org = Organization(
        id=org_id or new_id(),
        name=name,
        created_at=now,
        window=window,
        limits=limits,
        balance_minor=balance_minor,
        rate_per_minute=rate_per_minute,
    )
    conn.execute(insert(organizations).values(**_org_values(org)))
    return org


def _org_values(org: Organization) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "created_at": org.created_at,
        "timezone": org.window.timezone,
        "window_start_min": org.window.start_min,
        "window_end_min": org.window.end_min,
        "window_days": org.window.days,
        "max_concurrent_calls": org.limits.max_concurrent_calls,
        "max_queue_wait_s": org.limits.max_queue_wait_s,
        "hourly_call_limit": org.limits.hourly_call_limit,
        "daily_call_limit": org.limits.daily_call_limit,
        "balance_minor": org.balance_minor,
        "rate_per_minute_minor": money.to_minor(org.rate_per_minute),
    }


def save_organization(conn: Connection, org: Organization) -> None:
    values = _org_values(org)
    del values["id"], values["created_at"]
    conn.execute(update(organizations).where(organizations.c.id == org.id).values(**values))


def _org_from_row(row: Any) -> Organization:
    return Organization(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        window=CallingWindow(row.timezone, row.window_start_min, row.window_end_min, row.window_days),
        limits=Limits(
            row.max_concurrent_calls, row.max_queue_wait_s, row.hourly_call_limit, row.daily_call_limit
        ),
        balance_minor=row.balance_minor,
        rate_per_minute=money.from_minor(row.rate_per_minute_minor),
    )


def get_organization(conn: Connection, org_id: str) -> Organization:
    row = conn.execute(select(organizations).where(organizations.c.id == org_id)).first()
    if row is None:
        raise NotFound(f"organization {org_id} not found")
    return _org_from_row(row)


def list_organizations(conn: Connection) -> list[Organization]:
    rows = conn.execute(select(organizations).order_by(organizations.c.created_at)).all()
    return [_org_from_row(r) for r in rows]


def issue_credential(
    conn: Connection,
    organization_id: str,
    *,
    kind: str,
    name: str,
    now: int,
    scopes: frozenset[Scope],
    key: str | None = None,
    secret: str | None = None,
) -> IssuedCredential:
    """Create a bearer key or a key + secret pair. `key`/`secret` given: adopt them (bootstrap)."""
    if kind == "bearer":
        key = key or "cp_" + _random(40)
        secret = None
    elif kind == "key_secret":
        key = key or "cpk_" + _random(28)
        secret = secret or "cps_" + _random(40)
    else:
        raise ValidationFailed.single("kind", "unknown credential kind", ["bearer", "key_secret"])
    if len(key) < 16 or (secret is not None and len(secret) < 16):
        raise ValidationFailed.single("key", "must be at least 16 characters")
    prefix = key[:PREFIX_LENGTH]
    taken = conn.execute(select(credentials.c.id).where(credentials.c.prefix == prefix)).first()
    if taken is not None:
        raise ValidationFailed.single("key", "a credential with the same first 12 characters exists")
    credential_id = new_id()
    conn.execute(
        insert(credentials).values(
            id=credential_id,
            organization_id=organization_id,
            kind=kind,
            name=name,
            prefix=prefix,
            key_hash=_hash(key),
            secret_hash=_hash(secret) if secret is not None else None,
            created_at=now,
            scopes=format_scopes(scopes),
        )
    )
    return IssuedCredential(credential_id, organization_id, kind, name, key, secret, scopes)


@dataclass(frozen=True, slots=True)
class Authenticated:
    principal: Principal
    needs_touch: bool  #: last_used_at is stale; the caller refreshes it in its own transaction


# Prepared once (`store.prepared`): every request runs it, and Core's building and execution
# of it cost several times what the driver does.
_BY_PREFIX = Prepared(
    lambda _: select(
        credentials.c.id,
        credentials.c.organization_id,
        credentials.c.kind,
        credentials.c.key_hash,
        credentials.c.secret_hash,
        credentials.c.revoked_at,
        credentials.c.last_used_at,
        credentials.c.scopes,  # in the same row: checking a scope costs no query
    ).where(credentials.c.prefix == param("prefix", credentials.c.prefix.type))
)


def authenticate(conn: Connection, key: str, secret: str | None, now: int) -> Authenticated:
    """Who a credential belongs to, or Unauthorized. Reads only.

    `secret` None: a bearer key. Otherwise a key + secret pair; each kind only opens its own door.
    """
    row = _BY_PREFIX.first(conn, prefix=key[:PREFIX_LENGTH])
    # Compared even when nothing matched (against hashes nothing has), so timing does not tell a
    # near miss from a miss.
    id_, organization_id, kind, key_hash, secret_hash, revoked_at, last_used_at, scopes = (
        row if row is not None else ("", "", "", "0" * 64, "", None, None, "")
    )
    expected_kind = "bearer" if secret is None else "key_secret"
    key_ok = hmac.compare_digest(_hash(key), str(key_hash))
    secret_ok = secret is None or hmac.compare_digest(_hash(secret), str(secret_hash or ""))
    if row is None or not key_ok or not secret_ok or kind != expected_kind or revoked_at is not None:
        raise Unauthorized("invalid or revoked credentials")
    stale = last_used_at is None or now - last_used_at > _LAST_USED_GRANULARITY_MS
    principal = Principal(str(organization_id), str(id_), stored_scopes(scopes))
    return Authenticated(principal, stale)


def credential_principal(conn: Connection, credential_id: str) -> Principal | None:
    """The principal of a bearer key by its id, or None once it is revoked or gone.

    A dashboard session stores the key's id, never the key: each request reads the key's row
    again, so revoking a key (or changing its scopes) takes effect on open sessions at once.
    """
    row = conn.execute(
        select(credentials.c.organization_id, credentials.c.scopes).where(
            credentials.c.id == credential_id,
            credentials.c.kind == "bearer",
            credentials.c.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        return None
    return Principal(str(row.organization_id), credential_id, stored_scopes(row.scopes))


def touch_credential(conn: Connection, credential_id: str, now: int) -> None:
    conn.execute(update(credentials).where(credentials.c.id == credential_id).values(last_used_at=now))


def revoke_credential(conn: Connection, organization_id: str, credential_id: str, now: int) -> None:
    result = conn.execute(
        update(credentials)
        .where(credentials.c.organization_id == organization_id, credentials.c.id == credential_id)
        .values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"credential {credential_id} not found")


def list_credentials(conn: Connection, organization_id: str) -> list[CredentialInfo]:
    rows = conn.execute(
        select(credentials)
        .where(credentials.c.organization_id == organization_id)
        .order_by(credentials.c.created_at)
    ).all()
    return [
        CredentialInfo(
            r.id,
            r.organization_id,
            r.kind,
            r.name,
            r.prefix,
            r.created_at,
            r.revoked_at,
            r.last_used_at,
            stored_scopes(r.scopes),
        )
        for r in rows
    ]
