"""The request id of the API request that created a call (`X-Request-ID`, or one generated).

The worker that runs the call writes it into every log line about the call, so an operator can
follow one request from the API's log into the worker's. Internal: no dialect renders it.

Also drops `organizations.analysis_llm`, a per-organisation analyser endpoint nothing ever read or
wrote (the analyser is configured per deployment); a downgrade brings the empty column back.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: a metadata-only change on both databases.
    op.add_column("calls", sa.Column("request_id", sa.String(128)))
    op.drop_column("organizations", "analysis_llm")


def downgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("organizations", sa.Column("analysis_llm", json))
    op.drop_column("calls", "request_id")
