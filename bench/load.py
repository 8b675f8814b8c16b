"""Load generated calls into a callplane database through the project's own store.

    python -m bench.load sqlite:///bench/data/bench-1m.db --calls 1000000
    python -m bench.load postgresql://postgres@127.0.0.1:5432/callplane_bench --calls 1000000

Organisations, numbers, agents and one API key per organisation are made by the admin use
cases (`engine.services.admin.Admin`); calls by `store.creating.insert_calls` in transactions of `--chunk`
calls, so a load killed at any point resumes at the next chunk when run again (call `i` is
always the same call). On PostgreSQL the search GIN index is dropped for the load and rebuilt
afterwards (`store.search.drop_pg_index` / `create_index_objects`), then `calls` and `call_meta` are vacuumed
and analysed; on SQLite the FTS5 index is merged (`store.search.optimize`). Every other index
stays in place. Tenants and keys go to `bench/data/<database>.tenants.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import gen
from callplane.domain.phone import parse_kr
from callplane.engine.services.admin import Admin
from callplane.store import creating, search
from callplane.store.db import Database
from callplane.store.migrate import upgrade

DATA = Path(__file__).parent / "data"
AGENT_FILE: dict[str, Any] = {
    "name": "bench agent",
    "type": "flow",
    "flow": {
        "start": "hello",
        "nodes": {
            "hello": {"type": "end", "say": "안녕하세요 {{customer_name}}님", "reason": "agent_hangup"}
        },
    },
}


def database_name(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or "bench").stem
    return parsed.database or "bench"


def tenants_path(url: str) -> Path:
    """Where the loader keeps tenants and keys: beside a SQLite file, else in $BENCH_DATA
    (default bench/data), so another checkout can measure an existing data set."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or "bench").with_suffix(".tenants.json")
    return Path(os.environ.get("BENCH_DATA", DATA)) / f"{database_name(url)}.tenants.json"


def ensure_postgres_database(url: str) -> None:
    """Create the bench database (UTF8, C.UTF-8, from template0) when it does not exist."""
    parsed = make_url(url)
    admin_url = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [parsed.database]).fetchone()
        if not exists:
            admin.execute(
                f"CREATE DATABASE \"{parsed.database}\" ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' "
                "LC_CTYPE 'C.UTF-8' TEMPLATE template0"
            )


def make_tenants(db: Database, now: int) -> list[dict[str, Any]]:
    admin = Admin(db, lambda: now)
    weights = gen.org_weights()
    out = []
    for k, n_agents in enumerate(gen.agents_per_org(weights)):
        org = admin.create_organization(
            f"bench org {k:02d}", calling_window={"start": "00:00", "end": "24:00"}, rate_per_minute="100.00"
        )
        numbers = []
        for j in range(3):
            number = parse_kr(f"070{k:04d}{j:04d}", "number")
            admin.add_number(org.id, number, f"line {j}")
            numbers.append(number)
        agents = [admin.create_agent(org.id, AGENT_FILE).id for _ in range(n_agents)]
        key = admin.issue_key(org.id, "bench")
        out.append(
            {
                "organization_id": org.id,
                "agent_ids": agents,
                "from_numbers": numbers,
                "api_key": key.key,
                "share": weights[k],
            }
        )
    return out


def load(url: str, n: int, chunk: int) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    if make_url(url).get_backend_name().startswith("postgres"):
        ensure_postgres_database(url)
    db = Database(url, pool_size=2)
    upgrade(db)
    path = tenants_path(url)
    if path.exists():
        state = json.loads(path.read_text())
        if state["calls"] != n:
            raise SystemExit(f"{path} was made for {state['calls']} calls; remove the database and it")
    else:
        with db.read() as conn:
            if conn.execute(text("SELECT count(*) FROM organizations")).scalar_one():
                raise SystemExit(f"{url} has organisations but no {path}: start from an empty database")
        state = {"calls": n, "tenants": make_tenants(db, gen.START_MS), "complete": False}
        path.write_text(json.dumps(state, indent=1))
    tenants = [gen.Tenant(t["organization_id"], t["agent_ids"], t["from_numbers"]) for t in state["tenants"]]
    with db.read() as conn:
        done = int(conn.execute(text("SELECT count(*) FROM calls")).scalar_one())
    if done % chunk:
        raise SystemExit(f"{done} calls is not a whole number of chunks of {chunk}: use the same --chunk")
    started = time.perf_counter()
    if done < n:
        with db.write() as conn:
            search.drop_pg_index(conn)
    for first in range(done, n, chunk):
        batch = [gen.make_call(i, n, tenants) for i in range(first, min(n, first + chunk))]
        with db.write() as conn:
            creating.insert_calls(conn, batch)
        loaded = first + len(batch)
        if loaded % (chunk * 25) == 0 or loaded == n:
            rate = (loaded - done) / (time.perf_counter() - started)
            print(f"{loaded:>9,} calls  {rate:,.0f} calls/s", flush=True)
    finish(db, url)
    state["complete"] = True
    state["load_seconds"] = state.get("load_seconds", 0) + round(time.perf_counter() - started)
    path.write_text(json.dumps(state, indent=1))
    db.dispose()


def finish(db: Database, url: str) -> None:
    started = time.perf_counter()
    if db.is_postgres:
        with db.write() as conn:
            conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            search.create_index_objects(conn)
        parsed = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(parsed, autocommit=True) as raw:
            raw.execute("VACUUM (ANALYZE) calls")
            # The metadata counts are index-only scans of `call_meta`: without its visibility map
            # (set by VACUUM) each one reads the heap too (a 10 % metadata total: ~90 ms, not ~7).
            raw.execute("VACUUM (ANALYZE) call_meta")
    else:
        with db.write() as conn:
            search.optimize(conn)
    print(f"indexes finished in {time.perf_counter() - started:,.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url", help="sqlite:///bench/data/x.db or postgresql://…/callplane_bench")
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=2_000)
    args = parser.parse_args()
    load(args.url, args.calls, args.chunk)


if __name__ == "__main__":
    main()
