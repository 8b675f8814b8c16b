"""The deployment's server secrets, starting with the key that signs list cursors.

A random secret is written here once, so every API process of a deployment signs and checks
cursors with the same key (`engine.services.cursors`). Deleting the row rotates it: the next process to
start writes a new one (cursors issued before are then refused with a 400).

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_server_secrets"),
    )
    op.bulk_insert(
        table,
        [{"name": "cursor", "value": secrets.token_urlsafe(32), "created_at": int(time.time() * 1000)}],
    )


def downgrade() -> None:
    op.drop_table("server_secrets")
