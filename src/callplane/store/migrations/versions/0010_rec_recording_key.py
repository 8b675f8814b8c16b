"""Calls keep the key of their recording in the blob store, not a URL.

A recording's URL is signed and expires (engine/services/recordings.py), so it is minted each
time a call is rendered; what is stored is where the audio lies (`{org}/{call}.wav`). The column
was always NULL until recordings existed, so the rename loses nothing.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain SQL: both PostgreSQL and SQLite (3.25+) rename a column in place, without the table
    # copy Alembic's batch mode would make on SQLite.
    op.execute("ALTER TABLE calls RENAME COLUMN recording_url TO recording_key")


def downgrade() -> None:
    op.execute("ALTER TABLE calls RENAME COLUMN recording_key TO recording_url")
