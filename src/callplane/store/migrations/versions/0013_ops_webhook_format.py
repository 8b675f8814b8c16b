"""The payload format of a webhook endpoint and of each outbox event (`vox` or `retell`).

An endpoint created for the Retell dialect receives Retell's `{event, call}` body signed with
`X-Retell-Signature`; every other endpoint, and an agent version's own `webhook_url`, keep Vox's
v2 envelope signed per Standard Webhooks. The event row says which format its body was rendered
in, so the relay signs it the same way on every attempt (and on a redelivery) whatever happens
to the endpoint. Existing rows are Vox's.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant server default: metadata-only on PostgreSQL 11+, and what SQLite's ADD COLUMN needs.
    for table in ("webhook_endpoints", "webhook_events"):
        op.add_column(table, sa.Column("format", sa.String(16), nullable=False, server_default="vox"))


def downgrade() -> None:
    # Retell-format rows have no meaning to an older release: it would sign them per Standard
    # Webhooks and send a Retell body. Their pending deliveries fail rather than go out wrong.
    op.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = 'format removed by a downgrade' "
        "WHERE status = 'pending' AND event_id IN (SELECT id FROM webhook_events WHERE format <> 'vox')"
    )
    op.execute(
        "UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'format removed by a downgrade' "
        "WHERE format <> 'vox'"
    )
    for table in ("webhook_events", "webhook_endpoints"):
        op.drop_column(table, "format")
