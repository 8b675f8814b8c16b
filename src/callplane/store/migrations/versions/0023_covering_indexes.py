"""Two indexes of `calls` carry what their lists read: an agent's count and a duration page's
order are read from the index alone.

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

`ix_calls_duration` carries `listed_at` likewise. A duration range listed newest first (Vox v2's
default order with a duration filter) sorts the range's calls by `listed_at` to choose the page's
keys: without it in the index, one heap row read per call in the range (2,947 at 1M calls, on
pages mostly outside the cache) before the 50 wide rows are read; with it, an index-only range
(100k calls: 0.57 → 0.12 ms for the 304 keys). `listed_at` changes with the claim, which changes
`status` too: again no HOT update is lost.

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

#: name: (key, carried)
INDEXES = {
    "ix_calls_agent": (["organization_id", "agent_id", "listed_at", "id"], ["status", "start_at"]),
    "ix_calls_duration": (["organization_id", "duration_ms", "id"], ["listed_at"]),
}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, (key, carried) in INDEXES.items():
        op.drop_index(name, table_name="calls")
        if postgres:
            op.create_index(name, "calls", key, postgresql_include=carried)
        else:
            op.create_index(name, "calls", key + carried)


def downgrade() -> None:
    for name, (key, _) in INDEXES.items():
        op.drop_index(name, table_name="calls")
        op.create_index(name, "calls", key)
