"""What an outbox event is about: `subject_kind` (`call`, `campaign`, `endpoint`) and `subject_id`.

Campaign events used to put the campaign's id in `call_id`, and an endpoint's test events the
endpoint's id: a call's delivery log could be asked for with a campaign id, and the dashboard's
delivery log linked campaigns as calls. Now `call_id` is set for call events only (NULL for the
others) and every event names its subject. Existing rows are backfilled from their type.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "webhook_events", sa.Column("subject_kind", sa.String(16), nullable=False, server_default="call")
    )
    op.add_column("webhook_events", sa.Column("subject_id", sa.String(36)))
    op.execute(
        "UPDATE webhook_events SET subject_id = call_id, subject_kind = CASE"
        " WHEN type IN ('campaign_started', 'campaign_finished') THEN 'campaign'"
        " WHEN type = 'test' THEN 'endpoint' ELSE 'call' END"
    )
    # SQLite cannot change a column's nullability in place: batch mode rebuilds the table.
    with op.batch_alter_table("webhook_events") as batch:
        batch.alter_column("call_id", existing_type=sa.String(36), nullable=True)
        batch.alter_column("subject_id", existing_type=sa.String(36), nullable=False)
    op.execute("UPDATE webhook_events SET call_id = NULL WHERE subject_kind <> 'call'")
    # Subject ids are UUIDs: the id alone finds a subject's events (a delivery log by id).
    op.create_index("ix_webhook_events_subject", "webhook_events", ["organization_id", "subject_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_subject", "webhook_events")
    op.execute("UPDATE webhook_events SET call_id = subject_id WHERE call_id IS NULL")
    with op.batch_alter_table("webhook_events") as batch:
        batch.alter_column("call_id", existing_type=sa.String(36), nullable=False)
        batch.drop_column("subject_id")
        batch.drop_column("subject_kind")
