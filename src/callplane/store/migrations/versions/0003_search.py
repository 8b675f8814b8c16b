"""Transcript search index: SQLite FTS5 `call_grams`, PostgreSQL `calls.search_grams` + GIN.

Stored calls are indexed here too (their search text recomputed from the transcript), so an
upgraded database finds old calls as well as new ones. See `callplane.store.search`.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from callplane.store import search

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        search.create_index_objects(conn)
        search.backfill(conn)
        search.optimize(conn)
    else:
        # Fill the column first, build the GIN once afterwards (much faster than row by row).
        op.execute("ALTER TABLE calls ADD COLUMN IF NOT EXISTS search_grams tsvector")
        search.backfill(conn)
        search.create_index_objects(conn)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"DROP TABLE IF EXISTS {search.FTS_TABLE}")
    else:
        op.execute(f"DROP INDEX IF EXISTS {search.PG_INDEX}")
        op.execute("ALTER TABLE calls DROP COLUMN IF EXISTS search_grams")
