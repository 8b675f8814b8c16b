"""Owned numbers name their carrier (`provider`) and the agent that answers calls to them.

`provider` is a telephony provider's registry name (`simulated`, `twilio`); every existing
number keeps the simulated line. `inbound_agent_id` is the agent that answers a call *to* the
number (null: calls to it are rejected); it is the owning organisation's agent.

`calls.carrier_price` keeps what the carrier says it charged (Twilio's `Price` and `PriceUnit`,
e.g. `-0.01300 USD`) for reconciliation; callplane's own cost stays `cost_minor`.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant server default: metadata-only on PostgreSQL 11+, and SQLite's ADD COLUMN.
    op.add_column(
        "phone_numbers",
        sa.Column("provider", sa.String(32), nullable=False, server_default="simulated"),
    )
    op.add_column("phone_numbers", sa.Column("inbound_agent_id", sa.String(36)))
    op.add_column("calls", sa.Column("carrier_price", sa.String(40)))


def downgrade() -> None:
    op.drop_column("calls", "carrier_price")
    with op.batch_alter_table("phone_numbers") as batch:
        batch.drop_column("inbound_agent_id")
        batch.drop_column("provider")
