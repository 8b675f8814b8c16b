"""Principals: API keys get scopes; an owned number and an approved caller ID have one owner.

Keys that exist before this revision keep working as before: they get every tenant scope there
is at this revision (the names are written out here, not imported, so the revision means the same
thing whatever later versions add).

Until now two organisations could hold the same owned number, or both have the same presentation
number approved. Such a database is not refused: the oldest holder keeps the number (its row was
there first, so the other was the later claim), the other organisations lose it (an owned number
is deleted; a presentation number goes back to "requested"), and each change is logged as a
warning naming the number and organisation so the operator can reassign it on purpose.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger("callplane.migrations")

_ALL_TENANT_SCOPES = (
    "agents:admin calls:read calls:write keys:admin numbers:admin organization:admin webhooks:admin"
)

# A row that loses to an older row for the same number (ties broken by organisation id).
_LATER_OWNER = """
    EXISTS (SELECT 1 FROM phone_numbers older WHERE older.number = phone_numbers.number
            AND (older.created_at < phone_numbers.created_at
                 OR (older.created_at = phone_numbers.created_at
                     AND older.organization_id < phone_numbers.organization_id)))
"""
_LATER_APPROVAL = """
    approved_at IS NOT NULL
    AND EXISTS (SELECT 1 FROM presentation_numbers older WHERE older.number = presentation_numbers.number
                AND older.approved_at IS NOT NULL
                AND (older.approved_at < presentation_numbers.approved_at
                     OR (older.approved_at = presentation_numbers.approved_at
                         AND older.organization_id < presentation_numbers.organization_id)))
"""


def upgrade() -> None:
    # An empty default: a row written without scopes (a bug) can do nothing, not everything.
    op.add_column("credentials", sa.Column("scopes", sa.String(200), nullable=False, server_default=""))
    op.execute(sa.text("UPDATE credentials SET scopes = :all").bindparams(all=_ALL_TENANT_SCOPES))

    conn = op.get_bind()
    for row in conn.execute(
        sa.text(f"SELECT number, organization_id FROM phone_numbers WHERE {_LATER_OWNER}")
    ):
        log.warning(
            "number %s was owned by several organizations; removed from %s (the oldest owner keeps it)",
            row.number,
            row.organization_id,
        )
    op.execute(f"DELETE FROM phone_numbers WHERE {_LATER_OWNER}")
    op.create_index("uq_phone_numbers_number", "phone_numbers", ["number"], unique=True)

    query = f"SELECT number, organization_id FROM presentation_numbers WHERE {_LATER_APPROVAL}"
    for row in conn.execute(sa.text(query)):
        log.warning(
            "presentation number %s was approved for several organizations; approval withdrawn from %s",
            row.number,
            row.organization_id,
        )
    op.execute(f"UPDATE presentation_numbers SET approved_at = NULL WHERE {_LATER_APPROVAL}")
    approved = sa.text("approved_at IS NOT NULL")
    op.create_index(
        "uq_presentation_numbers_approved",
        "presentation_numbers",
        ["number"],
        unique=True,
        sqlite_where=approved,
        postgresql_where=approved,
    )


def downgrade() -> None:
    op.drop_index("uq_presentation_numbers_approved", "presentation_numbers")
    op.drop_index("uq_phone_numbers_number", "phone_numbers")
    with op.batch_alter_table("credentials") as batch:
        batch.drop_column("scopes")
