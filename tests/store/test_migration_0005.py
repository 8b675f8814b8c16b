"""Migration 0005 on a database written before it: keys keep working, numbers get one owner."""

from __future__ import annotations

import hashlib
import importlib
import logging

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from callplane.domain.principal import TENANT_SCOPES, format_scopes
from callplane.store import numbers, orgs
from callplane.store.db import Database
from callplane.store.migrate import _config

KEY = "cp_" + "k" * 40
PAIR_KEY, PAIR_SECRET = "cpk_" + "p" * 28, "cps_" + "s" * 40


def _at(db: Database, revision: str) -> None:
    config = _config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        if revision == "0004":
            command.downgrade(config, revision)
        else:
            command.upgrade(config, revision)


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_keys_from_before_get_every_tenant_scope_and_numbers_one_owner(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    _at(db, "0004")
    with db.write() as conn:
        a = orgs.create_organization(conn, name="a", now=1).id
        b = orgs.create_organization(conn, name="b", now=2).id
        for cid, kind, key, secret in (
            ("c1", "bearer", KEY, None),
            ("c2", "key_secret", PAIR_KEY, PAIR_SECRET),
        ):
            conn.execute(
                text(
                    "INSERT INTO credentials (id, organization_id, kind, name, prefix, key_hash, secret_hash,"
                    " created_at) VALUES (:id, :org, :kind, 'old', :prefix, :kh, :sh, 1)"
                ),
                {
                    "id": cid,
                    "org": a,
                    "kind": kind,
                    "prefix": key[:12],
                    "kh": _sha(key),
                    "sh": _sha(secret) if secret else None,
                },
            )
        # Before 0005 nothing stopped two organisations holding one number or one caller ID.
        for org, at in ((a, 10), (b, 20)):
            conn.execute(
                text("INSERT INTO phone_numbers VALUES (:org, '+827011112222', '', :at)"),
                {"org": org, "at": at},
            )
            conn.execute(
                text("INSERT INTO presentation_numbers VALUES (:org, '+82212345678', :at, :at)"),
                {"org": org, "at": at},
            )
        conn.execute(text("INSERT INTO phone_numbers VALUES (:org, '+827033334444', '', 5)"), {"org": b})

    with caplog.at_level(logging.WARNING, logger="callplane.migrations"):
        _at(db, "head")

    with db.read() as conn:
        bearer = orgs.authenticate(conn, KEY, None, 100).principal
        pair = orgs.authenticate(conn, PAIR_KEY, PAIR_SECRET, 100).principal
        assert bearer.organization_id == a and bearer.scopes == TENANT_SCOPES
        assert pair.scopes == TENANT_SCOPES
        assert numbers.owns_number(conn, a, "+827011112222")
        assert not numbers.owns_number(conn, b, "+827011112222")
        assert numbers.owns_number(conn, b, "+827033334444")  # owned by one: untouched
        assert numbers.is_approved_presentation(conn, a, "+82212345678")
        assert not numbers.is_approved_presentation(conn, b, "+82212345678")
        assert [p.approved for p in numbers.list_presentation_numbers(conn, b)] == [False]  # requested again
    logged = caplog.text
    assert "+827011112222" in logged and b in logged and "+82212345678" in logged


# Named columns: later migrations add some (0010: provider, inbound_agent_id).
_NUMBER = "INSERT INTO phone_numbers (organization_id, number, label, created_at) VALUES"


def test_the_database_refuses_a_second_owner(db: Database) -> None:
    """Past the service's check (a race), the unique indexes still hold."""
    with db.write() as conn:
        a = orgs.create_organization(conn, name="a", now=1).id
        b = orgs.create_organization(conn, name="b", now=2).id
        conn.execute(text(f"{_NUMBER} (:org, '+827011112222', '', 1)"), {"org": a})
        conn.execute(text("INSERT INTO presentation_numbers VALUES (:org, '+82212345678', 1, 1)"), {"org": a})
        conn.execute(
            text("INSERT INTO presentation_numbers VALUES (:org, '+82212345678', NULL, 1)"), {"org": b}
        )
    for statement in (
        f"{_NUMBER} (:org, '+827011112222', '', 2)",
        "UPDATE presentation_numbers SET approved_at = 2 WHERE organization_id = :org",
    ):
        with pytest.raises(IntegrityError), db.write() as conn:
            conn.execute(text(statement), {"org": b})


def test_the_migration_grants_exactly_todays_tenant_scopes() -> None:
    """Its scope names are written out (a migration means one thing for ever): they must be all."""
    migration = importlib.import_module("callplane.store.migrations.versions.0005_principals")
    assert format_scopes(TENANT_SCOPES) == migration._ALL_TENANT_SCOPES
