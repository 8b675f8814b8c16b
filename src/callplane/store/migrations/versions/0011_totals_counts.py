"""Per-organisation call counts by creation day, for exact totals without counting every row.

Revision ID: 0011
Revises: 0010

- `call_counts`: how many calls each organisation created on each UTC day (`day` = the day's
  first millisecond), for the days before the organisation's `call_count_marks.counted_until`.
- `call_count_marks`: per organisation, the instant before which `call_counts` is complete
  (a day with no row there had no calls). Days from it on are counted from `calls` itself.
- Triggers on `calls`: inserting or deleting a call created more than an hour ago (a bulk
  import, a test clock in the past; never an ordinary create, stamped now) moves the mark back to
  that call's day, so the rows already summed for it are recounted the next time. The table
  holds only days that ended two hours before they were counted (`store.counting`), so an
  ordinary create never touches it: the triggers' `WHEN` is false and nothing is written.
  On PostgreSQL the upsert also serialises with a concurrent recount (both lock the mark).

`created_at` and `organization_id` of a call are never updated, so no UPDATE trigger is needed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

Id = sa.String(36)
DAY_MS = 86_400_000
#: A call created longer ago than this is "backdated" for the triggers (see the module
#: docstring and `store.counting.SETTLE_MS`, which is larger).
BACKDATED_MS = 3_600_000

_SQLITE_TRIGGER = """
CREATE TRIGGER calls_counted_{op} AFTER {verb} ON calls
WHEN {row}.created_at < CAST(strftime('%s', 'now') AS INTEGER) * 1000 - {backdated}
BEGIN
    INSERT INTO call_count_marks (organization_id, counted_until) VALUES ({row}.organization_id, 0)
    ON CONFLICT (organization_id) DO UPDATE SET counted_until =
        MIN(counted_until, {row}.created_at - {row}.created_at % {day});
END
"""

_PG_FUNCTION = f"""
CREATE FUNCTION calls_counted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    org text;
    created bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        org := OLD.organization_id;
        created := OLD.created_at;
    ELSE
        org := NEW.organization_id;
        created := NEW.created_at;
    END IF;
    INSERT INTO call_count_marks (organization_id, counted_until) VALUES (org, 0)
    ON CONFLICT (organization_id) DO UPDATE SET counted_until =
        LEAST(call_count_marks.counted_until, created - created % {DAY_MS});
    RETURN NULL;
END
$$
"""

_PG_TRIGGER = """
CREATE TRIGGER calls_counted_{op} AFTER {verb} ON calls FOR EACH ROW
WHEN ({row}.created_at < (extract(epoch FROM clock_timestamp()) * 1000)::bigint - {backdated})
EXECUTE FUNCTION calls_counted()
"""

_ROWS = (("insert", "INSERT", "NEW"), ("delete", "DELETE", "OLD"))


def upgrade() -> None:
    op.create_table(
        "call_counts",
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("day", sa.BigInteger, nullable=False),
        sa.Column("calls", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", "day", name="pk_call_counts"),
    )
    op.create_table(
        "call_count_marks",
        sa.Column("organization_id", Id, nullable=False),
        sa.Column("counted_until", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("organization_id", name="pk_call_count_marks"),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if not sqlite:
        op.execute(_PG_FUNCTION)
    for name, verb, row in _ROWS:
        template = _SQLITE_TRIGGER if sqlite else _PG_TRIGGER
        op.execute(template.format(op=name, verb=verb, row=row, backdated=BACKDATED_MS, day=DAY_MS))


def downgrade() -> None:
    for name, _, _ in _ROWS:
        on = "" if op.get_bind().dialect.name == "sqlite" else " ON calls"
        op.execute(f"DROP TRIGGER IF EXISTS calls_counted_{name}{on}")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS calls_counted()")
    op.drop_table("call_count_marks")
    op.drop_table("call_counts")
