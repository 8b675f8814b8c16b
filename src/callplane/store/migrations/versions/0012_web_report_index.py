"""Indexes for the dashboard: everything its aggregates read (`store.reports`), and an
organisation's webhook deliveries newest first (`store.deliveries`, the delivery log).

The KPI strip and the analytics charts group a range of one organisation's calls by hour,
status, agent, A/B variant, reason and sentiment, and sum their times and cost. Through
`ix_calls_listed` each matching call costs a read of its wide row (transcript, metadata: often
overflow pages); with every read column in this index, 30 days of the largest organisation is
one index range scan (bench/analytics_bench.py). PostgreSQL keeps the non-key columns in
`INCLUDE`; SQLite, which has no `INCLUDE`, keys on all of them.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

NAME = "ix_calls_report"
KEY = ["organization_id", "listed_at"]
CARRIED = [
    "status",
    "agent_id",
    "variant_label",
    "disconnection_reason",
    "user_sentiment",
    "start_at",
    "answered_at",
    "end_at",
    "cost_minor",
]


DELIVERIES = "ix_webhook_deliveries_created"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(NAME, "calls", KEY, postgresql_include=CARRIED)
    else:
        op.create_index(NAME, "calls", KEY + CARRIED)
    op.create_index(DELIVERIES, "webhook_deliveries", ["organization_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index(DELIVERIES, table_name="webhook_deliveries")
    op.drop_index(NAME, table_name="calls")
