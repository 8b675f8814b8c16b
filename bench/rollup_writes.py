"""What the rollup triggers (migrations 0017, 0019, 0021) add to a call's writes: its end and its
analysis.

    python -m bench.rollup_writes sqlite:////tmp/rollup-writes.db [--calls 2000]
    python -m bench.rollup_writes postgresql://postgres@127.0.0.1:5432/callplane_rollup_writes

On a new database (created, migrated, one bench organisation): `--calls` queued calls, then each
is ended (status, answer and end times, reason: the columns `store.lifecycle.finish` writes) in a
transaction of its own, and analysed (sentiment and cost: `complete_postcall`) in another. The
same again with the triggers dropped. Prints the time per call (end + analysis) both ways and
`uptime`: the difference is the triggers' cost (SQLite's CPU time is the database's too).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

from sqlalchemy import text, update
from sqlalchemy.engine import make_url

from bench import gen
from bench.analytics_bench import uptime
from bench.load import ensure_postgres_database, make_tenants
from callplane.domain.call import CallStatus, DisconnectionReason, Sentiment
from callplane.store import creating
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from callplane.store.schema import calls

TABLES = ("call_rollup_hours", "call_rollup_agents", "call_rollup_outcomes")
EVENTS = ("insert", "delete", "update")
PENDING = [f"call_rollup_pend_{e}" for e in EVENTS]


def lifecycle(db: Database, ids: list[str], at: int) -> tuple[float, float]:
    """End and analyse every call, one transaction each; (wall, CPU) ms per call."""
    start, start_cpu = time.perf_counter(), time.process_time()
    for i, call_id in enumerate(ids):
        with db.write() as conn:
            conn.execute(
                update(calls)
                .where(calls.c.id == call_id)
                .values(
                    status=CallStatus.ENDED.value,
                    start_at=at + i,
                    answered_at=at + i + 2_000,
                    end_at=at + i + 60_000,
                    disconnection_reason=DisconnectionReason.USER_HANGUP.value,
                )
            )
        with db.write() as conn:
            conn.execute(
                update(calls)
                .where(calls.c.id == call_id)
                .values(user_sentiment=Sentiment.POSITIVE.value, cost_minor=10_000)
            )
    n = len(ids)
    return (time.perf_counter() - start) * 1000 / n, (time.process_time() - start_cpu) * 1000 / n


def reset(db: Database, ids: list[str]) -> None:
    """Back to queued, as inserted."""
    with db.write() as conn:
        conn.execute(
            update(calls)
            .where(calls.c.id.in_(ids))
            .values(
                status=CallStatus.QUEUED.value,
                answered_at=None,
                end_at=None,
                disconnection_reason=None,
                user_sentiment=None,
                cost_minor=None,
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--calls", type=int, default=2_000)
    args = parser.parse_args()
    if make_url(args.url).get_backend_name().startswith("postgres"):
        ensure_postgres_database(args.url)
    db = Database(args.url)
    upgrade(db)
    tenant = make_tenants(db, gen.START_MS)[0]
    tenants = [gen.Tenant(tenant["organization_id"], tenant["agent_ids"], tenant["from_numbers"])]
    queued = {"status": CallStatus.QUEUED, "end_at": None, "answered_at": None}
    batch = [replace(gen.make_call(i, args.calls, tenants), **queued) for i in range(args.calls)]
    with db.write() as conn:
        creating.insert_calls(conn, batch)
    ids = [c.id for c in batch]
    reset(db, ids)
    out: dict[str, object] = {"database": db.engine.dialect.name, "calls": args.calls}
    out["uptime_before"] = uptime()
    wall, cpu = lifecycle(db, ids, gen.END_MS)
    out["with triggers, ms per call (wall, cpu)"] = [round(wall, 3), round(cpu, 3)]
    reset(db, ids)
    with db.write() as conn:
        # SQLite: each table's row triggers (0017, 0019); PostgreSQL: the one that appends to
        # call_rollup_pending, folded at commit (0021).
        names = [f"{t}_{e}" for t in TABLES for e in EVENTS] if db.is_sqlite else PENDING
        for name in names:
            conn.execute(text(f"DROP TRIGGER {name}" + ("" if db.is_sqlite else " ON calls")))
    wall, cpu = lifecycle(db, ids, gen.END_MS)
    out["without triggers, ms per call (wall, cpu)"] = [round(wall, 3), round(cpu, 3)]
    out["uptime_after"] = uptime()
    print(json.dumps(out, indent=1))
    db.dispose()


if __name__ == "__main__":
    main()
