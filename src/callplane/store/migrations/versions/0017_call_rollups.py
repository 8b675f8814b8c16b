"""Rollups of ended calls for the dashboard's analytics (`store.rollups`, `store.reports`).

Revision ID: 0017
Revises: 0016

- `call_rollup_hours`: per organisation, UTC hour of `listed_at` (`listed_at / 3600000`) and
  status, the sums the KPI strip and the time charts read (calls, dialled, connected, talk time,
  talked, cost).
- `call_rollup_agents`: the same sums per organisation, UTC day (`listed_at / 86400000`), agent
  and A/B variant; `call_rollup_outcomes`: per organisation, UTC day, disconnection reason and
  sentiment. Two tables rather than one of all four: the largest bench organisation has 94
  agents, and their product with reasons and sentiments is nearly a row per call. `''` is none
  (a key column cannot be NULL; labels, reasons and sentiments are never empty).
- Triggers on `calls` keep them exact for calls in a terminal status: a call entering one adds
  its contribution, leaving one (or being deleted) subtracts it, and a change of a summed or
  grouped column of an ended call (post-call analysis sets the sentiment and may set the cost)
  moves it. Calls still queued or live are not in the rollups; the reports read them from `calls`.
  Each table's trigger fires only on its own columns, so analysis after the end (sentiment)
  writes the outcomes table alone.
- The existing ended calls are summed into both tables (the backfill).

Rows whose sums drop to zero are kept: they are few (bounded by the keys an organisation uses)
and the next call of that key reuses them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Id = sa.String(36)
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TERMINAL = "('ended', 'not_connected', 'error', 'canceled')"
MEASURES = ("calls", "dialled", "connected", "talk_ms", "talked", "cost_minor")

#: table → (its key columns beyond the organisation, their values from a call row `{r}`)
TABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "call_rollup_hours": (("hour", "status"), (f"{{r}}.listed_at / {HOUR_MS}", "{r}.status")),
    "call_rollup_agents": (
        ("day", "agent_id", "variant_label"),
        (f"{{r}}.listed_at / {DAY_MS}", "{r}.agent_id", "coalesce({r}.variant_label, '')"),
    ),
    "call_rollup_outcomes": (
        ("day", "disconnection_reason", "user_sentiment"),
        (
            f"{{r}}.listed_at / {DAY_MS}",
            "coalesce({r}.disconnection_reason, '')",
            "coalesce({r}.user_sentiment, '')",
        ),
    ),
}
#: The call columns each table's rows depend on: its key's and the sums' (and the status, which
#: decides whether the call is summed at all). A trigger fires only when one of them changes.
SUMMED = ("listed_at", "status", "start_at", "answered_at", "end_at", "cost_minor")
READS = {
    "call_rollup_hours": SUMMED,
    "call_rollup_agents": (*SUMMED, "agent_id", "variant_label"),
    "call_rollup_outcomes": (*SUMMED, "disconnection_reason", "user_sentiment"),
}


def _sums(r: str, sign: str) -> list[str]:
    """One call's contribution, times `sign` (portable: PostgreSQL has no boolean arithmetic)."""
    return [
        sign,
        f"CASE WHEN {r}.start_at IS NULL THEN 0 ELSE {sign} END",
        f"CASE WHEN {r}.answered_at IS NULL THEN 0 ELSE {sign} END",
        f"{sign} * coalesce({r}.end_at - {r}.answered_at, 0)",
        f"CASE WHEN {r}.answered_at IS NULL OR {r}.end_at IS NULL THEN 0 ELSE {sign} END",
        f"{sign} * coalesce({r}.cost_minor, 0)",
    ]


def _add(table: str, r: str, sign: str) -> str:
    """Add row `r`'s contribution to `table` when it is terminal (the same text on both databases)."""
    keys, values = TABLES[table]
    columns = ", ".join(("organization_id", *keys, *MEASURES))
    selected = ", ".join((f"{r}.organization_id", *(v.format(r=r) for v in values), *_sums(r, sign)))
    conflict = ", ".join(("organization_id", *keys))
    update = ", ".join(f"{m} = {table}.{m} + excluded.{m}" for m in MEASURES)
    return (
        f"INSERT INTO {table} ({columns}) SELECT {selected} WHERE {r}.status IN {TERMINAL}"
        f" ON CONFLICT ({conflict}) DO UPDATE SET {update};"
    )


def _changed(table: str) -> str:
    return " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in READS[table])


def _sqlite(table: str) -> list[str]:
    changed = _changed(table).replace("IS DISTINCT FROM", "IS NOT")
    moved = f"(OLD.status IN {TERMINAL} OR NEW.status IN {TERMINAL}) AND ({changed})"
    return [
        f"CREATE TRIGGER {table}_insert AFTER INSERT ON calls WHEN NEW.status IN {TERMINAL}"
        f" BEGIN {_add(table, 'NEW', '1')} END",
        f"CREATE TRIGGER {table}_delete AFTER DELETE ON calls WHEN OLD.status IN {TERMINAL}"
        f" BEGIN {_add(table, 'OLD', '-1')} END",
        f"CREATE TRIGGER {table}_update AFTER UPDATE OF {', '.join(READS[table])} ON calls WHEN {moved}"
        f" BEGIN {_add(table, 'OLD', '-1')} {_add(table, 'NEW', '1')} END",
    ]


def _postgres(table: str) -> list[str]:
    moved = f"(OLD.status IN {TERMINAL} OR NEW.status IN {TERMINAL}) AND ({_changed(table)})"
    function = (
        f"CREATE FUNCTION {table}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" IF TG_OP <> 'INSERT' THEN {_add(table, 'OLD', '-1')} END IF;"
        f" IF TG_OP <> 'DELETE' THEN {_add(table, 'NEW', '1')} END IF;"
        " RETURN NULL; END $$"
    )
    return [
        function,
        f"CREATE TRIGGER {table}_insert AFTER INSERT ON calls FOR EACH ROW"
        f" WHEN (NEW.status IN {TERMINAL}) EXECUTE FUNCTION {table}()",
        f"CREATE TRIGGER {table}_delete AFTER DELETE ON calls FOR EACH ROW"
        f" WHEN (OLD.status IN {TERMINAL}) EXECUTE FUNCTION {table}()",
        f"CREATE TRIGGER {table}_update AFTER UPDATE OF {', '.join(READS[table])} ON calls"
        f" FOR EACH ROW WHEN ({moved}) EXECUTE FUNCTION {table}()",
    ]


def _backfill(table: str) -> str:
    keys, values = TABLES[table]
    grouped = [v.format(r="c") for v in values]
    sums = ", ".join(f"sum({s})" for s in _sums("c", "1"))
    return (
        f"INSERT INTO {table} (organization_id, {', '.join(keys)}, {', '.join(MEASURES)})"
        f" SELECT c.organization_id, {', '.join(grouped)}, {sums} FROM calls c"
        f" WHERE c.status IN {TERMINAL} GROUP BY c.organization_id, {', '.join(grouped)}"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, (keys, _) in TABLES.items():
        key_columns = [
            sa.Column(k, sa.BigInteger if k in ("hour", "day") else sa.String(100), nullable=False)
            for k in keys
        ]
        op.create_table(
            table,
            sa.Column("organization_id", Id, nullable=False),
            *key_columns,
            *(sa.Column(m, sa.BigInteger, nullable=False) for m in MEASURES),
            sa.PrimaryKeyConstraint("organization_id", *keys, name=f"pk_{table}"),
        )
        # Triggers first, then the backfill in the same transaction: no ended call is missed
        # or counted twice (the application is stopped for a migration anyway).
        for statement in _sqlite(table) if sqlite else _postgres(table):
            op.execute(statement)
        op.execute(_backfill(table))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TABLES:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{event}" + ("" if sqlite else " ON calls"))
        if not sqlite:
            op.execute(f"DROP FUNCTION IF EXISTS {table}()")
        op.drop_table(table)
