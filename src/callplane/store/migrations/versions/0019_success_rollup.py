"""The success rate's verdict in the hourly rollup (`store.success`, `store.rollups`).

Revision ID: 0019
Revises: 0018

`call_rollup_hours` gains two sums of the ended calls: `judged` (the post-call analysis holds a
boolean `call_successful`) and `successful` (it holds true) — the same test `store.success` makes
on the calls (`json_type` on SQLite, `jsonb_typeof` / `->` on PostgreSQL). Its triggers are
recreated with them and fire on `analysis` too: the analysis is written after the call ends and
may be rewritten (re-analysis), and each write moves the call's contribution. The rows are then
summed again from the calls (the backfill), in the same transaction as the new triggers.

Self-contained rather than importing 0017's builders: a migration is a frozen text; the
statements are 0017's with the two sums added.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TABLE = "call_rollup_hours"
HOUR_MS = 3_600_000
TERMINAL = "('ended', 'not_connected', 'error', 'canceled')"
KEYS = ("hour", "status")
#: 0017's sums and the columns they read, then this revision's (the downgrade keeps 0017's alone).
MEASURES = ("calls", "dialled", "connected", "talk_ms", "talked", "cost_minor", "judged", "successful")
READS = ("listed_at", "status", "start_at", "answered_at", "end_at", "cost_minor", "analysis")
OLD_MEASURES, OLD_READS = MEASURES[:6], READS[:6]


def _verdict(r: str, sqlite: bool) -> tuple[str, str]:
    """(has a verdict, the verdict is true) of row `r`, as `store.success` tests them."""
    if sqlite:
        kind = f"json_type({r}.analysis, '$.call_successful')"
        return f"{kind} IN ('true', 'false')", f"{kind} = 'true'"
    value = f"({r}.analysis -> 'call_successful')"
    return f"jsonb_typeof{value} = 'boolean'", f"{value} = 'true'::jsonb"


def _sums(r: str, sign: str, sqlite: bool, measures: tuple[str, ...]) -> list[str]:
    judged, successful = _verdict(r, sqlite)
    sums = [
        sign,
        f"CASE WHEN {r}.start_at IS NULL THEN 0 ELSE {sign} END",
        f"CASE WHEN {r}.answered_at IS NULL THEN 0 ELSE {sign} END",
        f"{sign} * coalesce({r}.end_at - {r}.answered_at, 0)",
        f"CASE WHEN {r}.answered_at IS NULL OR {r}.end_at IS NULL THEN 0 ELSE {sign} END",
        f"{sign} * coalesce({r}.cost_minor, 0)",
        f"CASE WHEN {judged} THEN {sign} ELSE 0 END",
        f"CASE WHEN {successful} THEN {sign} ELSE 0 END",
    ]
    return sums[: len(measures)]


def _add(r: str, sign: str, sqlite: bool, measures: tuple[str, ...]) -> str:
    columns = ", ".join(("organization_id", *KEYS, *measures))
    sums = _sums(r, sign, sqlite, measures)
    selected = ", ".join((f"{r}.organization_id", f"{r}.listed_at / {HOUR_MS}", f"{r}.status", *sums))
    update = ", ".join(f"{m} = {TABLE}.{m} + excluded.{m}" for m in measures)
    return (
        f"INSERT INTO {TABLE} ({columns}) SELECT {selected} WHERE {r}.status IN {TERMINAL}"
        f" ON CONFLICT (organization_id, {', '.join(KEYS)}) DO UPDATE SET {update};"
    )


def _triggers(sqlite: bool, measures: tuple[str, ...], reads: tuple[str, ...]) -> list[str]:
    distinct = "IS NOT" if sqlite else "IS DISTINCT FROM"
    changed = " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in reads)
    moved = f"(OLD.status IN {TERMINAL} OR NEW.status IN {TERMINAL}) AND ({changed})"
    columns = ", ".join(reads)

    def add(r: str, sign: str) -> str:
        return _add(r, sign, sqlite, measures)

    if sqlite:
        return [
            f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON calls WHEN NEW.status IN {TERMINAL}"
            f" BEGIN {add('NEW', '1')} END",
            f"CREATE TRIGGER {TABLE}_delete AFTER DELETE ON calls WHEN OLD.status IN {TERMINAL}"
            f" BEGIN {add('OLD', '-1')} END",
            f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF {columns} ON calls WHEN {moved}"
            f" BEGIN {add('OLD', '-1')} {add('NEW', '1')} END",
        ]
    return [
        f"CREATE FUNCTION {TABLE}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" IF TG_OP <> 'INSERT' THEN {add('OLD', '-1')} END IF;"
        f" IF TG_OP <> 'DELETE' THEN {add('NEW', '1')} END IF;"
        " RETURN NULL; END $$",
        f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON calls FOR EACH ROW"
        f" WHEN (NEW.status IN {TERMINAL}) EXECUTE FUNCTION {TABLE}()",
        f"CREATE TRIGGER {TABLE}_delete AFTER DELETE ON calls FOR EACH ROW"
        f" WHEN (OLD.status IN {TERMINAL}) EXECUTE FUNCTION {TABLE}()",
        f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF {columns} ON calls"
        f" FOR EACH ROW WHEN ({moved}) EXECUTE FUNCTION {TABLE}()",
    ]


def _drop_triggers(sqlite: bool) -> None:
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_{event}" + ("" if sqlite else " ON calls"))
    if not sqlite:
        op.execute(f"DROP FUNCTION IF EXISTS {TABLE}()")


def _backfill(sqlite: bool, measures: tuple[str, ...]) -> None:
    hour = f"c.listed_at / {HOUR_MS}"
    sums = ", ".join(f"sum({s})" for s in _sums("c", "1", sqlite, measures))
    op.execute(f"DELETE FROM {TABLE}")
    op.execute(
        f"INSERT INTO {TABLE} (organization_id, {', '.join(KEYS)}, {', '.join(measures)})"
        f" SELECT c.organization_id, {hour}, c.status, {sums} FROM calls c"
        f" WHERE c.status IN {TERMINAL} GROUP BY c.organization_id, {hour}, c.status"
    )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for measure in ("judged", "successful"):
        op.add_column(TABLE, sa.Column(measure, sa.BigInteger, nullable=False, server_default="0"))
    _drop_triggers(sqlite)
    for statement in _triggers(sqlite, MEASURES, READS):
        op.execute(statement)
    _backfill(sqlite, MEASURES)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    _drop_triggers(sqlite)
    for measure in ("successful", "judged"):
        op.drop_column(TABLE, measure)
    for statement in _triggers(sqlite, OLD_MEASURES, OLD_READS):
        op.execute(statement)
