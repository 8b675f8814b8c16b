"""PostgreSQL: the rollups' sums are written at commit, in key order, so that two transactions
ending calls never deadlock over rollup rows (`store.rollups`).

Revision ID: 0021
Revises: 0019

Until now each `calls` row trigger (migrations 0017, 0019) upserted its rollup rows at once, so
a transaction held a rollup row's lock from the first call it ended until its commit. Two group
commits ending calls of the same hours in opposite orders (A's hour then B's, and B's then A's)
each waited for the other: a deadlock, which PostgreSQL broke by failing one of them (retried as
a transient failure — the whole group's work again).

Now the row trigger only appends the call's signed contribution (−OLD, +NEW; the same columns
0017 and 0019 sum) to `call_rollup_pending`, an append-only table no two transactions share a
row of, so it takes no lock another waits for. A constraint trigger deferred to the commit folds
the transaction's pending rows into the three rollup tables — one statement per table, its keys
sorted (`ORDER BY` the table's key), tables always in the same order — and deletes them. Every
transaction thus takes its rollup row locks in one global order (table, then key): no cycle, so
no deadlock; a transaction may still wait for another's commit on a shared row, as before.
Rows whose contribution nets to zero in a table (an analysis that changes only the sentiment,
for the agents table) are not written at all.

One trigger fires for any change of a column some rollup reads: −OLD and +NEW cancel in a table
whose key and sums did not change. Committed state never holds pending rows (each transaction
empties its own at commit), so readers read the rollup tables alone; only the writing
transaction itself, before its commit, would see its calls' ends not yet summed (the application
never reads a report in the transaction that ends a call).

SQLite is unchanged: it has one writer at a time, so its row triggers cannot deadlock.
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TERMINAL = "('ended', 'not_connected', 'error', 'canceled')"
#: The call columns any rollup reads (0017's and 0019's, together).
READS = (
    "listed_at",
    "status",
    "start_at",
    "answered_at",
    "end_at",
    "cost_minor",
    "analysis",
    "agent_id",
    "variant_label",
    "disconnection_reason",
    "user_sentiment",
)
#: What a pending row keeps of a call: its keys and the inputs of the sums.
KEPT = (
    "organization_id",
    "listed_at",
    "status",
    "agent_id",
    "variant_label",
    "disconnection_reason",
    "user_sentiment",
    "start_at",
    "answered_at",
    "end_at",
    "cost_minor",
)
SUMS = ("calls", "dialled", "connected", "talk_ms", "talked", "cost_minor")
#: table → its key (beyond the organisation) as expressions over a pending row `p`, its sums.
#: Folded in this order by every transaction.
TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "call_rollup_agents": (
        (
            ("day", f"p.listed_at / {DAY_MS}"),
            ("agent_id", "p.agent_id"),
            ("variant_label", "coalesce(p.variant_label, '')"),
        ),
        SUMS,
    ),
    "call_rollup_hours": (
        (("hour", f"p.listed_at / {HOUR_MS}"), ("status", "p.status")),
        (*SUMS, "judged", "successful"),
    ),
    "call_rollup_outcomes": (
        (
            ("day", f"p.listed_at / {DAY_MS}"),
            ("disconnection_reason", "coalesce(p.disconnection_reason, '')"),
            ("user_sentiment", "coalesce(p.user_sentiment, '')"),
        ),
        SUMS,
    ),
}
#: Each sum over pending rows `p` (0017's and 0019's definitions, signed by `p.sign`).
SUMMED = {
    "calls": "sum(p.sign)",
    "dialled": "sum(CASE WHEN p.start_at IS NULL THEN 0 ELSE p.sign END)",
    "connected": "sum(CASE WHEN p.answered_at IS NULL THEN 0 ELSE p.sign END)",
    "talk_ms": "sum(p.sign * coalesce(p.end_at - p.answered_at, 0))",
    "talked": "sum(CASE WHEN p.answered_at IS NULL OR p.end_at IS NULL THEN 0 ELSE p.sign END)",
    "cost_minor": "sum(p.sign * coalesce(p.cost_minor, 0))",
    "judged": "sum(p.sign * p.judged)",
    "successful": "sum(p.sign * p.successful)",
}


def _pending_row(r: str, sign: str) -> str:
    """Append row `r`'s contribution when it is terminal; the verdict as 0019 tests it."""
    value = f"({r}.analysis -> 'call_successful')"
    judged = f"CASE WHEN jsonb_typeof{value} = 'boolean' THEN 1 ELSE 0 END"
    successful = f"CASE WHEN {value} = 'true'::jsonb THEN 1 ELSE 0 END"
    kept = ", ".join(f"{r}.{c}" for c in KEPT)
    return (
        f"IF {r}.status IN {TERMINAL} THEN INSERT INTO call_rollup_pending"
        f" (sign, {', '.join(KEPT)}, judged, successful) VALUES ({sign}, {kept}, {judged}, {successful});"
        " END IF;"
    )


def _fold(table: str) -> str:
    keys, sums = TABLES[table]
    columns = ", ".join(("organization_id", *(k for k, _ in keys), *sums))
    grouped = ", ".join(("p.organization_id", *(e for _, e in keys)))
    positions = ", ".join(str(i) for i in range(1, len(keys) + 2))
    nonzero = " OR ".join(f"{SUMMED[s]} <> 0" for s in sums)
    update = ", ".join(f"{s} = {table}.{s} + excluded.{s}" for s in sums)
    return (
        f"INSERT INTO {table} ({columns}) SELECT {grouped}, {', '.join(SUMMED[s] for s in sums)}"
        f" FROM call_rollup_pending p WHERE p.xact = x GROUP BY {positions} HAVING {nonzero}"
        f" ORDER BY {positions}"
        f" ON CONFLICT (organization_id, {', '.join(k for k, _ in keys)}) DO UPDATE SET {update};"
    )


def _drop_row_triggers() -> None:
    for table in TABLES:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_{event} ON calls")
        op.execute(f"DROP FUNCTION IF EXISTS {table}()")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "CREATE TABLE call_rollup_pending ("
        " xact bigint NOT NULL DEFAULT txid_current(), sign integer NOT NULL,"
        " organization_id text NOT NULL, listed_at bigint NOT NULL, status text NOT NULL,"
        " agent_id text NOT NULL, variant_label text, disconnection_reason text, user_sentiment text,"
        " start_at bigint, answered_at bigint, end_at bigint, cost_minor bigint,"
        " judged integer NOT NULL, successful integer NOT NULL)"
    )
    op.execute("CREATE INDEX ix_call_rollup_pending_xact ON call_rollup_pending (xact)")
    _drop_row_triggers()
    op.execute(
        "CREATE FUNCTION call_rollup_pend() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        f" IF TG_OP <> 'INSERT' THEN {_pending_row('OLD', '-1')} END IF;"
        f" IF TG_OP <> 'DELETE' THEN {_pending_row('NEW', '1')} END IF;"
        " RETURN NULL; END $$"
    )
    changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in READS)
    moved = f"(OLD.status IN {TERMINAL} OR NEW.status IN {TERMINAL}) AND ({changed})"
    op.execute(
        "CREATE TRIGGER call_rollup_pend_insert AFTER INSERT ON calls FOR EACH ROW"
        f" WHEN (NEW.status IN {TERMINAL}) EXECUTE FUNCTION call_rollup_pend()"
    )
    op.execute(
        "CREATE TRIGGER call_rollup_pend_delete AFTER DELETE ON calls FOR EACH ROW"
        f" WHEN (OLD.status IN {TERMINAL}) EXECUTE FUNCTION call_rollup_pend()"
    )
    op.execute(
        f"CREATE TRIGGER call_rollup_pend_update AFTER UPDATE OF {', '.join(READS)} ON calls"
        f" FOR EACH ROW WHEN ({moved}) EXECUTE FUNCTION call_rollup_pend()"
    )
    # Fires at commit once per pending row: the first firing folds them all, the others find
    # none (an index probe each).
    folds = " ".join(_fold(t) for t in TABLES)
    op.execute(
        "CREATE FUNCTION call_rollup_fold() RETURNS trigger LANGUAGE plpgsql AS $$"
        " DECLARE x bigint := txid_current(); BEGIN"
        " IF NOT EXISTS (SELECT 1 FROM call_rollup_pending WHERE xact = x) THEN RETURN NULL; END IF;"
        f" {folds} DELETE FROM call_rollup_pending WHERE xact = x; RETURN NULL; END $$"
    )
    op.execute(
        "CREATE CONSTRAINT TRIGGER call_rollup_fold AFTER INSERT ON call_rollup_pending"
        " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION call_rollup_fold()"
    )


def downgrade() -> None:
    """Back to 0019's row triggers (the rollup rows themselves are unchanged)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS call_rollup_fold ON call_rollup_pending")
    op.execute("DROP FUNCTION IF EXISTS call_rollup_fold()")
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS call_rollup_pend_{event} ON calls")
    op.execute("DROP FUNCTION IF EXISTS call_rollup_pend()")
    op.execute("DROP TABLE call_rollup_pending")
    # The frozen texts of the revisions that made them.
    m17 = importlib.import_module("callplane.store.migrations.versions.0017_call_rollups")
    m19 = importlib.import_module("callplane.store.migrations.versions.0019_success_rollup")
    for table in ("call_rollup_agents", "call_rollup_outcomes"):
        for statement in m17._postgres(table):
            op.execute(statement)
    for statement in m19._triggers(False, m19.MEASURES, m19.READS):
        op.execute(statement)
