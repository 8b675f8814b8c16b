"""Calls keep the key of their recording in the blob store, not a URL.

A recording's URL is signed and expires (engine/services/recordings.py), so it is minted each
time a call is rendered; what is stored is where the audio lies (`{org}/{call}.wav`). The column
was always NULL until recordings existed, so the rename loses nothing.

The retention purge looks for calls with a recording that ended before a cut-off, across
organisations; a partial index holds only those calls, so it stays small (and the purge never
scans the calls table) and the later updates of a call (post-call analysis, cost) do not touch it.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain SQL: both PostgreSQL and SQLite (3.25+) rename a column in place, without the table
    # copy Alembic's batch mode would make on SQLite.
    op.execute("ALTER TABLE calls RENAME COLUMN recording_url TO recording_key")
    op.create_index(
        "ix_calls_recordings_ended",
        "calls",
        ["end_at"],
        sqlite_where=sa.text("recording_key IS NOT NULL"),
        postgresql_where=sa.text("recording_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_calls_recordings_ended", "calls")
    op.execute("ALTER TABLE calls RENAME COLUMN recording_key TO recording_url")
