"""Campaigns: the campaign, its tasks, and the campaign a call was made for.

Revision ID: 0008
Revises: 0007

- `campaigns`: one row per campaign; `(organization_id, idempotency_key)` is unique, so a
  create repeated with its key (the CLI derives one from the file) finds the first campaign.
- `campaign_tasks`: one row per callee, keyed `(organization_id, campaign_id, seq)` in the order
  given; `ix_campaign_tasks_feed` serves the feeder (the next pending tasks in due
  time then list order, read straight off the index: with `seq` left out, 100,000 tasks due at
  the same instant were read and sorted on every pass) and the counters (tasks by status).
- `calls.campaign_id` / `calls.campaign_task`: null for ordinary calls; `ix_calls_campaign`
  serves a campaign's live-call count, its cancel, and the `campaign_id` list filter.

Every key and index leads with `organization_id`. Plain ADD/DROP COLUMN on both databases (a
batch rebuild would renumber SQLite's `rid`, which the search index is keyed by).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.String(36)
Phone = sa.String(20)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("from_number", Phone, nullable=False),
        sa.Column("agent_id", Id),
        sa.Column("agent_version", sa.String(16), nullable=False),
        sa.Column("presentation_number", Phone),
        sa.Column("scheduled_at", sa.BigInteger),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("window_start_min", sa.Integer, nullable=False),
        sa.Column("window_end_min", sa.Integer, nullable=False),
        sa.Column("window_days", sa.String(7), nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("retry", _json(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paused_by", sa.String(8)),
        sa.Column("idempotency_key", sa.String(255)),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger),
        sa.Column("finished_at", sa.BigInteger),
        sa.PrimaryKeyConstraint("organization_id", "id", name="pk_campaigns"),
        sa.UniqueConstraint("organization_id", "idempotency_key", name="uq_campaigns_idempotency_key"),
    )
    op.create_index("ix_campaigns_created", "campaigns", ["organization_id", "created_at", "id"])
    op.create_table(
        "campaign_tasks",
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("to_number", Phone, nullable=False),
        sa.Column("dynamic_variables", _json(), nullable=False),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("call_ids", _json(), nullable=False),
        sa.Column("current_call_id", Id),
        sa.Column("last_reason", sa.String(200)),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "campaign_id", "seq", name="pk_campaign_tasks"),
    )
    op.create_index(
        "ix_campaign_tasks_feed",
        "campaign_tasks",
        ["organization_id", "campaign_id", "status", "due_at", "seq"],
    )
    op.add_column("calls", sa.Column("campaign_id", Id))
    op.add_column("calls", sa.Column("campaign_task", sa.Integer))
    op.create_index("ix_calls_campaign", "calls", ["organization_id", "campaign_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_calls_campaign", "calls")
    op.drop_column("calls", "campaign_task")
    op.drop_column("calls", "campaign_id")
    op.drop_index("ix_campaign_tasks_feed", "campaign_tasks")
    op.drop_table("campaign_tasks")
    op.drop_index("ix_campaigns_created", "campaigns")
    op.drop_table("campaigns")
