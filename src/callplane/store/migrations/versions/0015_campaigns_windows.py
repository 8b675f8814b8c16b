"""More than one calling window per campaign: `campaigns.windows`, every window as
`[[start_min, end_min, days], …]` in the campaign's one time zone.

The single-window columns stay and keep the first window, so a row written before this
migration (its `windows` null) still reads as its one window, and a downgrade loses only the
extra windows.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable without a default: a metadata-only change on both databases.
    op.add_column("campaigns", sa.Column("windows", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")))


def downgrade() -> None:
    op.drop_column("campaigns", "windows")
