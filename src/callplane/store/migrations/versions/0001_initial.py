"""Initial schema: organisations, credentials, agents, numbers, policies, calls.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.String(36)
Phone = sa.String(20)
LIVE = "status IN ('dialing', 'ringing', 'ongoing')"


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"

    op.create_table(
        "organizations",
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("window_start_min", sa.Integer, nullable=False),
        sa.Column("window_end_min", sa.Integer, nullable=False),
        sa.Column("window_days", sa.String(7), nullable=False),
        sa.Column("max_concurrent_calls", sa.Integer, nullable=False),
        sa.Column("max_queue_wait_s", sa.Integer),
        sa.Column("hourly_call_limit", sa.Integer),
        sa.Column("daily_call_limit", sa.Integer),
        sa.Column("balance_minor", sa.BigInteger),
        sa.Column("rate_per_minute_minor", sa.BigInteger, nullable=False),
        sa.Column("analysis_llm", _json()),
    )
    op.create_table(
        "credentials",
        sa.Column("id", Id, primary_key=True),
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("secret_hash", sa.String(64)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
        sa.Column("last_used_at", sa.BigInteger),
        sa.UniqueConstraint("prefix"),
    )
    op.create_index("ix_credentials_org", "credentials", ["organization_id"])
    op.create_table(
        "agents",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("id", Id, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False),
        sa.Column("production_version", sa.Integer),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "agent_versions",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("agent_id", Id, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "phone_numbers",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("number", Phone, primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "presentation_numbers",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("number", Phone, primary_key=True),
        sa.Column("approved_at", sa.BigInteger),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "traffic_splits",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("id", Id, primary_key=True),
        sa.Column("from_number", Phone, nullable=False),
        sa.Column("variants", _json(), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_traffic_splits_from", "traffic_splits", ["organization_id", "from_number"])
    op.create_table(
        "suppressions",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("number", Phone, primary_key=True),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("call_id", Id, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )

    # SQLite: an INTEGER PRIMARY KEY alias for the FTS5 search index (see store/schema.py).
    rid: list[sa.schema.SchemaItem] = [sa.Column("rid", sa.Integer, primary_key=True)] if sqlite else []
    key: sa.schema.SchemaItem = (
        sa.UniqueConstraint("organization_id", "id", name="uq_calls_org_id")
        if sqlite
        else sa.PrimaryKeyConstraint("organization_id", "id", name="pk_calls")
    )
    op.create_table(
        "calls",
        *rid,
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("id", Id, nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("agent_version", sa.Integer, nullable=False),
        sa.Column("agent_version_spec", sa.String(16), nullable=False),
        sa.Column("call_type", sa.String(16), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("from_number", Phone),
        sa.Column("to_number", Phone),
        sa.Column("presentation_number", Phone),
        sa.Column("variant_label", sa.String(100)),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("due_at", sa.BigInteger, nullable=False),
        sa.Column("listed_at", sa.BigInteger, nullable=False),
        sa.Column("start_at", sa.BigInteger),
        sa.Column("answered_at", sa.BigInteger),
        sa.Column("end_at", sa.BigInteger),
        sa.Column("duration_ms", sa.BigInteger),
        sa.Column("disconnection_reason", sa.String(32)),
        sa.Column("user_sentiment", sa.String(16)),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("dynamic_variables", _json(), nullable=False),
        sa.Column("transcript", _json()),
        sa.Column("search_text", sa.Text),
        sa.Column("recording_url", sa.Text),
        sa.Column("analysis", _json()),
        sa.Column("cost_minor", sa.BigInteger),
        sa.Column("opt_out", sa.Boolean, nullable=False),
        sa.Column("error_detail", sa.Text),
        sa.Column("telephony_id", sa.String(100)),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", sa.BigInteger),
        sa.Column("end_requested_at", sa.BigInteger),
        sa.Column("postcall_due_at", sa.BigInteger),
        sa.Column("postcall_attempts", sa.Integer, nullable=False),
        key,
    )
    # One b-tree per sort order, each ending in the id tie-breaker the keyset cursor needs.
    for name, columns in {
        "ix_calls_listed": ["organization_id", "listed_at", "id"],
        "ix_calls_end": ["organization_id", "end_at", "id"],
        "ix_calls_duration": ["organization_id", "duration_ms", "id"],
        "ix_calls_created": ["organization_id", "created_at", "id"],
        "ix_calls_agent": ["organization_id", "agent_id", "listed_at", "id"],
        "ix_calls_status": ["organization_id", "status", "listed_at", "id"],
        "ix_calls_from": ["organization_id", "from_number", "listed_at"],
        "ix_calls_to": ["organization_id", "to_number", "listed_at"],
    }.items():
        op.create_index(name, "calls", columns)
    # The queue, the live set (concurrency and leases) and pending post-call work are small
    # slices of a large table: partial indexes keep them cheap to find.
    op.create_index(
        "ix_calls_queue",
        "calls",
        ["due_at", "organization_id", "id"],
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    )
    op.create_index(
        "ix_calls_live",
        "calls",
        ["organization_id", "lease_expires_at"],
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    op.create_index(
        "ix_calls_postcall",
        "calls",
        ["postcall_due_at"],
        sqlite_where=sa.text("postcall_due_at IS NOT NULL"),
        postgresql_where=sa.text("postcall_due_at IS NOT NULL"),
    )
    if sqlite:
        op.create_table(
            "call_meta",
            sa.Column("organization_id", Id, nullable=False),
            sa.Column("key", sa.String(200), nullable=False),
            sa.Column("value", sa.Text, nullable=False),
            sa.Column("listed_at", sa.BigInteger, nullable=False),
            sa.Column("call_id", Id, nullable=False),
            sa.PrimaryKeyConstraint(
                "organization_id", "key", "value", "listed_at", "call_id", name="pk_call_meta"
            ),
            sqlite_with_rowid=False,
        )
    else:
        op.create_index(
            "ix_calls_metadata",
            "calls",
            ["metadata"],
            postgresql_using="gin",
            postgresql_ops={"metadata": "jsonb_path_ops"},
        )


def downgrade() -> None:
    for table in (
        "call_meta",
        "calls",
        "idempotency_keys",
        "suppressions",
        "traffic_splits",
        "presentation_numbers",
        "phone_numbers",
        "agent_versions",
        "agents",
        "credentials",
        "organizations",
    ):
        op.execute(f"DROP TABLE IF EXISTS {table}")
