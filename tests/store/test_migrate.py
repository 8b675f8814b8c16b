"""Migrations both ways, on an empty SQLite file and an empty PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from callplane.store.db import Database
from callplane.store.migrate import current, downgrade, head, upgrade

ROOT = Path(__file__).resolve().parents[2]
HEAD = head()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    url: str = request.getfixturevalue("empty_postgres_url")
    return url


def test_every_revision_goes_down_and_up_again(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        upgrade(db)
        assert current(db) == HEAD
        downgrade(db, "base")
        assert current(db) is None
        upgrade(db, "0001")
        assert current(db) == "0001"
        upgrade(db)
        assert current(db) == HEAD
    finally:
        db.dispose()


def test_the_alembic_command_line_uses_the_configured_database(empty_url: str) -> None:
    db = Database(empty_url)
    try:
        upgrade(db, "0002")
    finally:
        db.dispose()
    env = {**os.environ, "CALLPLANE_DATABASE_URL": empty_url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(ROOT / "alembic.ini")]
    shown = subprocess.run([*alembic, "current"], env=env, capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "0002"
    subprocess.run([*alembic, "upgrade", "head"], env=env, capture_output=True, check=True)
    db = Database(empty_url)
    try:
        assert current(db) == HEAD
    finally:
        db.dispose()


def test_0018_names_each_events_subject_and_keeps_call_id_for_calls_only(empty_url: str) -> None:
    rows = [("e1", "c1", "call_ended"), ("e2", "k1", "campaign_started"), ("e3", "w1", "test")]
    db = Database(empty_url)
    try:
        upgrade(db)
        downgrade(db, "0018-1")
        with db.write() as conn:
            for event_id, subject, kind in rows:
                conn.execute(
                    text(
                        "INSERT INTO webhook_events (organization_id, id, call_id, type, body, created_at)"
                        " VALUES ('o', :id, :subject, :type, '{}', 1)"
                    ),
                    {"id": event_id, "subject": subject, "type": kind},
                )
        upgrade(db)
        query = "SELECT id, subject_kind, subject_id, call_id FROM webhook_events ORDER BY id"
        with db.read() as conn:
            found = [tuple(r) for r in conn.execute(text(query))]
        assert found == [
            ("e1", "call", "c1", "c1"),
            ("e2", "campaign", "k1", None),
            ("e3", "endpoint", "w1", None),
        ]
        downgrade(db, "0018-1")
        with db.read() as conn:
            back = [tuple(r) for r in conn.execute(text("SELECT id, call_id FROM webhook_events ORDER BY 1"))]
        assert back == [("e1", "c1"), ("e2", "k1"), ("e3", "w1")]
    finally:
        db.dispose()
