"""The list/search benchmark: raw SQL vs the HTTP API, on SQLite and PostgreSQL, in one run.

    python -m bench.run --sqlite sqlite:///bench/data/bench-1m.db \
        --pg postgresql://postgres@127.0.0.1:5432/callplane_bench --out bench/RESULTS.md

For each database and each shape (a Vox list request for the largest organisation):
- raw: the statements the store emits for the request are captured (SQLAlchemy
  `before_cursor_execute`), then replayed with the driver itself (sqlite3 / psycopg, same
  connection settings as the store) and timed together, fetch included;
- serialization: rows → domain calls → the dialect's JSON → bytes, in process;
- API: the same request to `callplane serve` (CALLPLANE_EMBEDDED_WORKER=false) over a
  keep-alive httpx client on loopback, client-side wall time.
Measured in rounds over all shapes; within a round each of the three runs 10 times back-to-back
(see `bench_database` for why).
Then create-call throughput through `POST /v3/calls` (a separate "ingest" organisation).
Writes a Markdown report (machine, versions, load, date) and a JSON file beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import psycopg
import psycopg.types.json
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from bench import gen
from bench.load import AGENT_FILE, tenants_path
from bench.replay import (
    Captured,
    Replayed,
    Replayer,
    capture,
    failure,
    page_rows,
    path_of,
    set_statement_timeout,
)
from bench.report import machine, report, write_report
from callplane.api.dialects.vox import render, v2, v3
from callplane.domain.phone import parse_kr
from callplane.domain.query import CallQuery, decode_cursor, encode_cursor
from callplane.engine.services.admin import Admin
from callplane.engine.services.cursors import Cursors
from callplane.store import listing
from callplane.store.calls import rows_to_calls
from callplane.store.db import Database

ROOT = Path(__file__).parent
DAY = 86_400_000


@dataclass
class Shape:
    name: str
    dialect: str  # "v3" (GET /v3/calls) or "v2" (POST /v2/calls/list)
    params: dict[str, Any]  # v3 query parameters or the v2 body
    group: str  # which target applies: list, search3, search2, search1


@dataclass
class Measured:
    raw: list[float] = field(default_factory=list)
    ser: list[float] = field(default_factory=list)
    api: list[float] = field(default_factory=list)
    rows: int = 0
    total: Any = None
    statements: int = 0
    plan: str = ""
    path: str = ""
    failures: dict[str, int] = field(default_factory=dict)  #: "where: why" → requests

    def fail(self, where: str, why: str) -> None:
        self.failures[f"{where}: {why}"] = self.failures.get(f"{where}: {why}", 0) + 1


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- shapes -------------------------------------------------------------------------------


def shapes(tenant: dict[str, Any], deep_cursor: str) -> list[Shape]:
    top_agent = tenant["agent_ids"][0]
    since = gen.END_MS - 30 * DAY
    out = [
        Shape("first page", "v3", {}, "list"),
        Shape("deep keyset page (row 10,000)", "v3", {"cursor": deep_cursor}, "list"),
        Shape(
            "agent + status + last 30 d",
            "v3",
            {"agent_id": top_agent, "status": "ended", "start_at_after": since},
            "list",
        ),
        Shape(
            "duration 10–20 min (v2, with transcripts)",
            "v2",
            {"filter_criteria": {"duration": {"lower_threshold": 600_000, "upper_threshold": 1_200_000}}},
            "list",
        ),
        Shape("metadata campaign (10%)", "v3", {"metadata.campaign": "campaign_03"}, "list"),
        Shape(
            "metadata customer_id (1 call)", "v3", {"metadata.customer_id": tenant["probe_customer"]}, "list"
        ),
    ]
    for label, key, group in (
        ("rare 4 chars", "rare4", "search3"),
        ("common 4 chars", "common4", "search3"),
        ("rare 2 chars", "rare2", "search2"),
        ("common 2 chars", "common2", "search2"),
    ):
        word = gen.TARGETS[key]
        out.append(Shape(f"search {label} '{word}'", "v3", {"search": word}, group))
    out.append(Shape("search medium 3 chars '재약정' (~1.3%)", "v3", {"search": "재약정"}, "search3"))
    out.append(Shape("search 1 char '누'", "v3", {"search": "누"}, "search1"))
    out.append(Shape("search 1 char, absent '뷁'", "v3", {"search": "뷁"}, "search1"))
    out.append(
        Shape(
            "search common 4 chars + last 30 d",
            "v3",
            {"search": "주문번호", "start_at_after": since},
            "search3",
        )
    )
    return out


def with_total(shape: Shape, total: bool) -> Shape:
    params = dict(shape.params)
    if shape.dialect == "v3":
        params["include_total"] = "true" if total else "false"
    else:
        params["include_total"] = total
    return Shape(shape.name + (" + total" if total else ""), shape.dialect, params, shape.group)


def to_query(shape: Shape, org: str, key: bytes) -> CallQuery:
    """The store's query for a shape; `key` is the deployment's cursor key (`Cursors.key`)."""
    if shape.dialect == "v2":
        return v2.to_query(v2.ListCallsV2.model_validate(shape.params), org)
    scope = {"type": "http", "method": "GET", "path": "/v3/calls", "headers": [],
             "query_string": urlencode(shape.params).encode()}  # fmt: skip
    query, token = v3.list_query(Request(scope), org)
    if token:
        query = query.next_page(decode_cursor(token, query, key))
    return query


#: Decoded from text here on SQLite. Not the transcript: a page reads it as text on both databases
#: (`listing._WITH_TRANSCRIPT`) and `rows_to_calls`, timed below, decodes it.
JSON_COLUMNS = ("metadata", "dynamic_variables", "analysis")


def serialize(
    shape: Shape,
    rows: list[Any],
    query: CallQuery,
    page: listing.Page,
    raw: tuple[list[str], list[Any]],
    key: bytes,
) -> bytes:
    """Raw page rows → response bytes. SQLite returns JSON columns as text: decoding them is
    counted here (psycopg decodes jsonb while fetching, which the raw time already holds)."""
    names, raw_rows = raw
    for i in [
        i for i, n in enumerate(names) if n in JSON_COLUMNS and raw_rows and isinstance(raw_rows[0][i], str)
    ]:
        for r in raw_rows:
            if r[i] is not None:
                orjson.loads(r[i])
    calls = rows_to_calls(rows, with_transcript=query.include_transcript)
    if shape.dialect == "v2":
        body = {"calls": [render.v2_call(c) for c in calls], "next_cursor": None,
                "total_count": page.total.value if page.total else None}  # fmt: skip
    else:
        body = {
            "items": [render.v3_call(c, with_transcript=False) for c in calls],
            "total_count": page.total.value if page.total else None,
            "next_cursor": encode_cursor(query, page.next_cursor, key) if page.next_cursor else None,
        }
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


# --- the server ---------------------------------------------------------------------------


#: The pid of each running `server()`, by its base URL: the ingest measurement reads its CPU.
SERVER_PIDS: dict[str, int] = {}


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of `pid` (robust to a loaded host, where rates
    and latencies are not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(url: str, log: Path, *, embedded_worker: bool = False) -> Iterator[str]:
    port = free_port()
    # The rate limits are lifted: back-to-back measurements from one key are far past the
    # default 50/s per key, and 429s would be left out of the figures (a run on the defaults
    # lost a third of its requests and measured creates at 50/s).
    env = {**os.environ, "CALLPLANE_DATABASE_URL": url,
           "CALLPLANE_EMBEDDED_WORKER": "true" if embedded_worker else "false",
           "CALLPLANE_LOG_LEVEL": "warning", "CALLPLANE_RATE_LIMIT_PER_KEY": "1000000/second",
           "CALLPLANE_RATE_LIMIT_PER_ORGANIZATION": "1000000/second"}  # fmt: skip
    exe = Path(sys.executable).with_name("callplane")
    with log.open("w") as out:
        proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"server did not start; see {log}")
        SERVER_PIDS[base] = proc.pid
        yield base
    finally:
        SERVER_PIDS.pop(base, None)
        proc.terminate()
        proc.wait(timeout=20)


def timed(n: int, work: Callable[[], object]) -> list[float]:
    """Run `work` n times back-to-back; each run's wall time in ms."""
    out = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        out.append((time.perf_counter() - started) * 1000)
    return out


def api_call(client: httpx.Client, shape: Shape, key: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    if shape.dialect == "v2":
        response = client.post("/v2/calls/list", json=shape.params, headers=headers)
    else:
        response = client.get("/v3/calls", params=shape.params, headers=headers)
    return response.raise_for_status()


# --- one database -------------------------------------------------------------------------


def deep_cursor(db: Database, org: str, key: bytes, depth: int = 10_000) -> str:
    base = to_query(Shape("", "v3", {}, "list"), org, key)
    query = base
    seen = 0
    with db.read() as conn:
        while seen < depth:
            page = listing.list_calls(
                conn, CallQuery(organization_id=org, limit=min(100, depth), cursor=query.cursor)
            )
            seen += len(page.calls)
            assert page.next_cursor is not None
            query = query.next_page(page.next_cursor)
    assert query.cursor is not None
    return encode_cursor(base, query.cursor, key)


def probe_customer(db: Database, org: str) -> str:
    with db.read() as conn:
        page = listing.list_calls(conn, CallQuery(organization_id=org, limit=1))
    return str(page.calls[0].metadata["customer_id"])


def bench_database(
    url: str,
    reps: int,
    warmup: int,
    out_dir: Path,
    statement_timeout_ms: int | None = None,
    ingest_calls: int = 1500,
    burst: int = 10,
) -> dict[str, Any]:
    """Measure one database (`burst`: see below). A request that fails (a statement timeout on a
    slow host, a 503) is counted in its shape's `failures` and left out of its timings: the run
    goes on."""
    state = json.loads(tenants_path(url).read_text())
    tenant = max(state["tenants"], key=lambda t: t["share"])
    org = tenant["organization_id"]
    # Preparing (cursors, the page rows serialized) is not measured: no statement timeout.
    setup = Database(url, pool_size=2)
    session_timeout(setup, 0)
    db = Database(url, pool_size=2)
    if statement_timeout_ms is not None:
        session_timeout(db, statement_timeout_ms)
    tenant["probe_customer"] = probe_customer(setup, org)
    key = Cursors(setup, lambda: int(time.time() * 1000)).key()  # the server's: same database
    # Row 10,000, or half the organisation on a small data set.
    depth = min(10_000, int(state["calls"] * tenant["share"]) // 2)
    all_shapes = [
        with_total(s, t) for s in shapes(tenant, deep_cursor(setup, org, key, depth)) for t in (False, True)
    ]
    queries = {s.name: to_query(s, org, key) for s in all_shapes}
    rows = {s.name: page_rows(setup, queries[s.name]) for s in all_shapes}
    replayer = Replayer(url, statement_timeout_ms)
    results = {s.name: Measured() for s in all_shapes}
    kind = "sqlite" if db.is_sqlite else "postgres"
    with (
        server(url, out_dir / f"server-{kind}.log") as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        floor: list[float] = []
        # Rounds over the shapes, and within a round each measurement in a back-to-back run
        # (`burst` requests). Rounds: a burst of load on the shared machine lands on every shape
        # alike, so comparisons between shapes (deep vs first page, with vs without total) stay
        # fair. Back-to-back: on this VM a server (and its PostgreSQL backend) idle for a few
        # milliseconds answers its next requests markedly later — /healthz 0.34 ms back-to-back,
        # 0.64 ms after a 3 ms pause, 0.92 ms after 10 ms; a PostgreSQL first page 2.5 ms
        # back-to-back, 3.9 ms in runs of 5 after 10 ms pauses, 5.5 ms after every pause — which
        # is no cost of the API: a server under traffic does not pay it.
        last: dict[str, tuple[listing.Page, list[Captured], Replayed]] = {}
        for i in range(-(-(warmup + reps) // burst)):
            keep = i * burst >= warmup
            floor_run = timed(burst, lambda: client.get("/healthz"))
            floor.extend(floor_run if keep else [])
            for shape in all_shapes:
                m, name = results[shape.name], shape.name
                for _ in range(burst):
                    done = in_process(db, replayer, queries[name], m)
                    if done is not None:
                        last[name] = done
                        if keep:
                            m.raw.append(done[2].ms)
                if name in last:
                    page, _, replayed = last[name]
                    raw = (replayed.names, replayed.rows)
                    ser = timed(burst, partial(serialize, shape, rows[name], queries[name], page, raw, key))
                    m.ser.extend(ser if keep else [])
                for _ in range(burst):
                    started = time.perf_counter()
                    problem = api_failure(client, shape, tenant["api_key"])
                    if problem is not None:
                        m.fail("API", problem)
                    elif keep:
                        m.api.append((time.perf_counter() - started) * 1000)
        for shape in all_shapes:
            m = results[shape.name]
            if shape.name in last:
                page, statements, _ = last[shape.name]
                m.rows = len(page.calls)
                m.total = (
                    None if page.total is None else {"value": page.total.value, "exact": page.total.exact}
                )
                m.statements = len(statements)
                page_statement = max(statements, key=lambda s: len(s.statement))
                m.plan = replayer.explain(page_statement)
                m.path = path_of(page_statement.statement)
            print(f"  {kind:8} {shape.name:55} raw {p(m.raw, .5):7.2f}  ser {p(m.ser, .5):5.2f}  "
                  f"api {p(m.api, .5):7.2f} ms  rows {m.rows}  total {m.total}"
                  + (f"  FAILED {m.failures}" if m.failures else ""), flush=True)  # fmt: skip
        ingest = ingest_throughput(setup, base, url, total=ingest_calls)
    replayer.close()
    db.dispose()
    facts = data_facts(url, state)
    setup.dispose()
    return {
        "kind": kind,
        "url": make_url(url).render_as_string(hide_password=True),
        "org_share": tenant["share"],
        "statement_timeout_ms": statement_timeout_ms,
        "healthz": {"p50": p(floor, 0.5), "p95": p(floor, 0.95)},
        "shapes": [
            {
                "name": s.name,
                "group": s.group,
                "dialect": s.dialect,
                "rows": results[s.name].rows,
                "total": results[s.name].total,
                "statements": results[s.name].statements,
                "raw": [p(results[s.name].raw, 0.5), p(results[s.name].raw, 0.95)],
                "ser": [p(results[s.name].ser, 0.5), p(results[s.name].ser, 0.95)],
                "api": [p(results[s.name].api, 0.5), p(results[s.name].api, 0.95)],
                "plan": results[s.name].plan,
                "path": results[s.name].path,
                "failures": results[s.name].failures,
            }
            for s in all_shapes
        ],
        "ingest": ingest,
        "data": facts,
    }


def session_timeout(db: Database, ms: int) -> None:
    """PostgreSQL: every connection `db` opens gets this statement timeout (0: none)."""
    if db.is_postgres:
        event.listen(db.engine, "connect", lambda dbapi_conn, _record: set_statement_timeout(dbapi_conn, ms))


def in_process(
    db: Database, replayer: Replayer, query: CallQuery, m: Measured
) -> tuple[listing.Page, list[Captured], Replayed] | None:
    """One request through the store, its statements replayed raw; None (counted) if either failed."""
    try:
        with capture(db) as statements, db.read() as conn:
            page = listing.list_calls(conn, query)
    except DBAPIError as exc:
        m.fail("store", failure(exc))
        return None
    replayed = replayer.run(statements)
    if replayed.error is not None:
        m.fail("raw", replayed.error)
        return None
    return page, statements, replayed


def api_failure(client: httpx.Client, shape: Shape, key: str) -> str | None:
    """Send the shape's request: None when it was answered 2xx, else why not."""
    try:
        api_call(client, shape, key)
    except httpx.HTTPStatusError as exc:
        return f"HTTP {exc.response.status_code}"
    except httpx.TransportError as exc:
        return type(exc).__name__
    return None


def ingest_throughput(
    db: Database, base: str, url: str, total: int = 1500, clients: int = 3
) -> dict[str, Any]:
    """Create calls through POST /v3/calls: one client for latency, then `clients` at once."""
    path = tenants_path(url)
    state = json.loads(path.read_text())
    if "ingest" not in state:
        admin = Admin(db, lambda: gen.END_MS)
        org = admin.create_organization("bench ingest", calling_window={"start": "00:00", "end": "24:00"})
        number = parse_kr("07099990000", "number")
        admin.add_number(org.id, number, "ingest")
        agent = admin.create_agent(org.id, AGENT_FILE)
        state["ingest"] = {
            "organization_id": org.id,
            "agent_id": agent.id,
            "api_key": admin.issue_key(org.id, "ingest").key,
        }
        path.write_text(json.dumps(state, indent=1))
    ingest = state["ingest"]
    body = {
        "from_number": "07099990000",
        "to_number": "01012345678",
        "agent": {"agent_id": ingest["agent_id"]},
        "metadata": {"customer_id": "C1", "campaign": "x"},
    }
    headers = {"Authorization": f"Bearer {ingest['api_key']}"}
    latencies: list[float] = []
    failed: dict[str, int] = {}

    def worker(n: int, sink: list[float]) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(n):
                started = time.perf_counter()
                try:
                    r = client.post("/v3/calls", json=body, headers=headers)
                    why = None if r.status_code == 201 else f"HTTP {r.status_code}"
                except httpx.TransportError as exc:
                    why = type(exc).__name__
                if why is None:
                    sink.append((time.perf_counter() - started) * 1000)
                else:
                    failed[why] = failed.get(why, 0) + 1

    # The server runs no worker (`server()`: CALLPLANE_EMBEDDED_WORKER=false, the production
    # shape of separate API processes), so its CPU is the creates' alone.
    pid = SERVER_PIDS.get(base)
    load_before = os.getloadavg()
    cpu_before = cpu_s(pid) if pid is not None else 0.0
    started = time.perf_counter()
    worker(total // 3, latencies)
    single = len(latencies) / (time.perf_counter() - started)
    single_cpu_ms = (cpu_s(pid) - cpu_before) * 1000 / max(1, len(latencies)) if pid is not None else None
    sinks: list[list[float]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=worker, args=(total // 3 * 2 // clients, sinks[k])) for k in range(clients)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    concurrent = sum(len(s) for s in sinks) / (time.perf_counter() - started)
    merged = [x for s in sinks for x in s]
    return {
        "single_client_per_s": single, "single_p50": p(latencies, .5), "single_p99": p(latencies, .99),
        "concurrent_clients": clients, "concurrent_per_s": concurrent,
        "concurrent_p50": p(merged, .5), "concurrent_p99": p(merged, .99), "failed": failed,
        "single_server_cpu_ms": single_cpu_ms, "load": [load_before, os.getloadavg()],
    }  # fmt: skip


def data_facts(url: str, state: dict[str, Any]) -> dict[str, Any]:
    parsed = make_url(url)
    facts: dict[str, Any] = {"calls": state["calls"], "complete": state.get("complete", True)}
    org = max(state["tenants"], key=lambda t: t["share"])["organization_id"]
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        facts["size_bytes"] = path.stat().st_size
        conn: Any = sqlite3.connect(path)
        count = "SELECT count(*) FROM calls WHERE organization_id = ? AND instr(search_text, ?) > 0"
        facts["largest_org_calls"] = conn.execute(
            "SELECT count(*) FROM calls WHERE organization_id = ?", [org]
        ).fetchone()[0]
        facts["matches"] = {w: conn.execute(count, [org, w]).fetchone()[0] for w in gen.TARGETS.values()}
        conn.close()
    else:
        plain = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain) as conn:
            set_statement_timeout(conn, 0)  # the brute-force counts are not measured
            facts["size_bytes"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
            facts["calls_total_bytes"] = conn.execute("SELECT pg_total_relation_size('calls')").fetchone()[0]
            facts["gin_bytes"] = conn.execute("SELECT pg_relation_size('ix_calls_search_grams')").fetchone()[
                0
            ]
            facts["largest_org_calls"] = conn.execute(
                "SELECT count(*) FROM calls WHERE organization_id = %s", [org]
            ).fetchone()[0]
            count = "SELECT count(*) FROM calls WHERE organization_id = %s AND strpos(search_text, %s) > 0"
            facts["matches"] = {w: conn.execute(count, [org, w]).fetchone()[0] for w in gen.TARGETS.values()}
            names = ("shared_buffers", "work_mem", "random_page_cost", "jit", "server_version")
            facts["settings"] = {k: conn.execute(f"SHOW {k}").fetchone()[0] for k in names}
    return facts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sqlite", help="sqlite:///bench/data/bench-1m.db")
    parser.add_argument("--pg", help="postgresql://postgres@127.0.0.1:5432/callplane_bench")
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "RESULTS.md")
    parser.add_argument(
        "--statement-timeout",
        type=int,
        metavar="MS",
        help="PostgreSQL: a statement timeout for the measured connections (the store's and the "
        "replays'; the server keeps the database's setting): how the run copes with a slow host",
    )
    parser.add_argument("--ingest", type=int, default=1500, help="calls created by the ingest measurement")
    parser.add_argument(
        "--report-only", action="store_true", help="rewrite --out from bench/out/results.json"
    )
    args = parser.parse_args()
    out_dir = ROOT / "out"
    out_dir.mkdir(exist_ok=True)
    if args.report_only:
        write_report(args.out, report(json.loads((out_dir / "results.json").read_text())))
        return
    run: dict[str, Any] = {"machine": machine(), "databases": []}
    for url in (args.sqlite, args.pg):
        if url:
            print(f"benchmarking {make_url(url).render_as_string(hide_password=True)}", flush=True)
            kind = "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgres"
            try:
                result = bench_database(
                    url, args.reps, args.warmup, out_dir, args.statement_timeout, args.ingest
                )
            except (DBAPIError, psycopg.Error, sqlite3.Error, httpx.HTTPError, RuntimeError) as exc:
                # Not even the preparation went through (or the server did not start): the
                # report says so, and the other database is still measured.
                print(f"  {kind}: not measured: {exc!r}", flush=True)
                run["databases"].append({"kind": kind, "error": f"{failure(exc)}: {exc}"})
                continue
            run["databases"].append(result)
            if result["kind"] == "postgres":
                run["pg_version"] = result["data"]["settings"]["server_version"]
    run["loadavg_end"] = os.getloadavg()
    (out_dir / "results.json").write_text(json.dumps(run, indent=1, ensure_ascii=False))
    write_report(args.out, report(run))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
