"""Engine: webhook endpoints and the transactional outbox, the balance ledger, collected values.

Revision ID: 0002
Revises: 0001

- `webhook_endpoints`: where an organisation wants its events (optionally only one agent's),
  each with its own Standard Webhooks secret.
- `webhook_signing_secrets`: one secret per organisation that signs deliveries to the URL an
  agent version names itself (`webhook_url` in the agent file), which has no endpoint row.
- `webhook_events` is the outbox: written in the same transaction as the status change that
  causes it. `webhook_deliveries` holds one row per event × destination with its retry state,
  and `webhook_attempts` logs every attempt.
- `ledger`: one row per settled call; UNIQUE(organization_id, call_id, kind) makes settlement
  happen exactly once however often post-call runs.
- `calls.collected`: the values the agent collected during the call (Retell: collected dynamic
  variables), input to analysis.

The delivery queue index, like `ix_calls_queue`, is led by its due time: the relay looks for due
work across all organisations.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.String(36)
EventId = sa.String(40)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (a batch rebuild would renumber SQLite's `rid`).
    op.add_column("calls", sa.Column("collected", _json()))

    op.create_table(
        "webhook_endpoints",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("id", Id, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("events", _json(), nullable=False),
        sa.Column("agent_id", Id),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("disabled_reason", sa.Text),
    )
    op.create_table(
        "webhook_signing_secrets",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("secret", sa.String(100), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "webhook_events",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("id", EventId, primary_key=True),
        sa.Column("call_id", Id, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),  # the exact bytes signed and sent
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_webhook_events_call", "webhook_events", ["organization_id", "call_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("id", Id, primary_key=True),
        sa.Column("event_id", EventId, nullable=False),
        sa.Column("endpoint_id", Id),  # null: the agent version's own webhook_url
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("finished_at", sa.BigInteger),
    )
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["organization_id", "event_id"])
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("delivery_id", Id, primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("duration_ms", sa.Integer, nullable=False),
    )
    op.create_table(
        "ledger",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("id", Id, primary_key=True),
        sa.Column("call_id", Id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("organization_id", "call_id", "kind", name="uq_ledger_call_kind"),
    )


def downgrade() -> None:
    for table in (
        "ledger",
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_events",
        "webhook_signing_secrets",
        "webhook_endpoints",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.drop_column("calls", "collected")
