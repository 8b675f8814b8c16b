"""`ix_calls_agent` also carries each call's status and start time: an agent's count is index-only.

A list filtered by agent, status and a start-time range ("the agent's ended calls of the last
30 days", a dashboard's drill-down) counted its total through `ix_calls_report`, the only index
holding all three: every call of the organisation in the range was read to keep the agent's
(at 1M calls, 12,410 of ~60k entries: +19 ms on PostgreSQL, +10 on SQLite, against a target of
5). With `status` and `start_at` in `ix_calls_agent`, the count reads the agent's calls in the
range alone (100k calls: 1,395 entries instead of 6,049; PostgreSQL 0.93 → 0.28 ms, SQLite
0.63 → 0.10 ms).

No index is added, and the worker's updates cost what they did: a status change already
rewrites every index of `calls` (`status` is a key of `ix_calls_status`, so it is never a HOT
update), and `start_at` is already carried by `ix_calls_report`, so no update that was HOT
stops being one. PostgreSQL carries the two in `INCLUDE`; SQLite, which has no `INCLUDE`,
appends them to the key, after `id`, which leaves the order of every agent walk as it was.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

NAME = "ix_calls_agent"
KEY = ["organization_id", "agent_id", "listed_at", "id"]
CARRIED = ["status", "start_at"]


def upgrade() -> None:
    op.drop_index(NAME, table_name="calls")
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(NAME, "calls", KEY, postgresql_include=CARRIED)
    else:
        op.create_index(NAME, "calls", KEY + CARRIED)


def downgrade() -> None:
    op.drop_index(NAME, table_name="calls")
    op.create_index(NAME, "calls", KEY)
