"""Schema migrations, run in-process (`callplane db upgrade`, and at `serve`/`worker` start)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from callplane.store.db import Database, check_postgres

# Any constant works: it only has to be the same in every callplane process.
_PG_MIGRATION_LOCK = 7_283_451_090


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "callplane.store:migrations")
    return config


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` (the newest by default); a no-op when it is already there."""
    config = _config()
    with db.write() as conn:
        if db.is_postgres:
            check_postgres(conn)
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(db: Database, revision: str) -> None:
    """Take the schema back to `revision` (e.g. "0003", or "-1"), in one transaction.

    Data that only the newer schema could hold goes with it: back up first.
    """
    config = _config()
    with db.write() as conn:
        if db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def current(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    """The newest revision this version of callplane knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def is_current(db: Database) -> bool:
    return current(db) == head()
