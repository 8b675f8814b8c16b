"""Migrations both ways, on an empty SQLite file and an empty PostgreSQL database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
