"""PostgreSQL gets SQLite's metadata side table `call_meta`; the metadata GIN goes.

Revision ID: 0022
Revises: 0021

A metadata filter was served on PostgreSQL by the `jsonb_path_ops` GIN on `calls.metadata`,
which always rechecks: a total read one heap page per matching call (3,146 at 100k calls, 64 ms;
13,105 at ~420k, 0.8-2.3 s). `call_meta` holds one row per scalar metadata value, keyed
`(organization_id, key, value, listed_at, call_id)` as on SQLite, so a count is index-only (with
a `listed_at` range too). Nothing else read the GIN (`store.success`'s `@>` is on `analysis`),
so it is dropped: every create wrote it, and now writes the side rows instead.

The backfill stores what `store.creating.meta_value` makes of each value as the store reads it back
(`orjson.loads` of the JSONB text): strings, booleans and integers of up to 18 digits are their
JSONB text, which is orjson's (same escapes, UTF-8 unescaped) and done in SQL; other numbers
(fractions, and integers that may not fit 64 bits) are few and converted in Python. Null, arrays
and objects are not indexed (filters compare scalars), nor keys over 200 characters.
"""

from __future__ import annotations

import orjson
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_COLUMNS = "c.organization_id, m.key, m.value::text, c.listed_at, c.id"
_PAIRS = "calls c CROSS JOIN LATERAL jsonb_each(c.metadata) AS m(key, value)"
_SQL_VALUE = (
    "length(m.key) <= 200 AND (jsonb_typeof(m.value) IN ('string', 'boolean')"
    " OR (jsonb_typeof(m.value) = 'number' AND m.value::text ~ '^-?[0-9]{1,18}$'))"
)
_PY_VALUE = "length(m.key) <= 200 AND jsonb_typeof(m.value) = 'number' AND m.value::text !~ '^-?[0-9]{1,18}$'"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_table(
        "call_meta",
        sa.Column("organization_id", sa.String(36), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("listed_at", sa.BigInteger, nullable=False),
        sa.Column("call_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint(
            "organization_id", "key", "value", "listed_at", "call_id", name="pk_call_meta"
        ),
    )
    op.execute(
        "INSERT INTO call_meta (organization_id, key, value, listed_at, call_id)"
        f" SELECT {_COLUMNS} FROM {_PAIRS} WHERE {_SQL_VALUE}"
    )
    bind = op.get_bind()
    rows = bind.execute(sa.text(f"SELECT {_COLUMNS} FROM {_PAIRS} WHERE {_PY_VALUE}")).all()
    if rows:
        bind.execute(
            sa.text("INSERT INTO call_meta VALUES (:o, :k, :v, :l, :c)"),
            [
                {"o": o, "k": k, "v": orjson.dumps(orjson.loads(v)).decode(), "l": listed, "c": c}
                for o, k, v, listed, c in rows
            ],
        )
    # A page drives from these entries newest first (51 of them); the planner, which cannot
    # tell that each entry joins exactly one call, chose a parallel plan whose worker start cost
    # 25-30 ms of a 0.7 ms page (416k calls, loaded host). A count reads one index range.
    op.execute("ALTER TABLE call_meta SET (parallel_workers = 0)")
    op.drop_index("ix_calls_metadata", table_name="calls")
    op.execute("ANALYZE call_meta")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_calls_metadata",
        "calls",
        ["metadata"],
        postgresql_using="gin",
        postgresql_ops={"metadata": "jsonb_path_ops"},
    )
    op.drop_table("call_meta")
