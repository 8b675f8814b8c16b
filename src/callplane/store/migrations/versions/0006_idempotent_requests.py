"""Stripe-style idempotency for admin creates, and expiry of both kinds of key.

Revision ID: 0006
Revises: 0004

- `idempotent_requests`: (organisation, Idempotency-Key) → the request's fingerprint (method,
  path, body hash), an in-flight marker (`status_code` NULL) and then the response to replay.
- `created_at` indexes on it and on `idempotency_keys` (call creates), so the worker's purge of
  keys older than 24 h reads only what it deletes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.String(36)


def upgrade() -> None:
    op.create_table(
        "idempotent_requests",
        sa.Column("organization_id", Id, primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("body", sa.Text),
        sa.Column("secret_withheld", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_idempotent_requests_created", "idempotent_requests", ["created_at"])
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created", "idempotency_keys")
    op.drop_index("ix_idempotent_requests_created", "idempotent_requests")
    op.drop_table("idempotent_requests")
