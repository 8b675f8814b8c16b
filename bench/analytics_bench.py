"""The dashboard's aggregates and pages on a loaded data set (bench/load.py): the largest
organisation's last 30 days.

    python -m bench.analytics_bench sqlite:///bench/data/bench-1m.db [--reps 20]

Measures, each `--reps` times after two warm-ups (median, p95, max in ms):

- `store.reports.report` and `store.reports.kpis` on one connection (the statements alone): for
  the period alone they read the rollups (migration 0017, `store.rollups`), the report's hours
  folded into the local days in the database as the analytics page asks (`charts.period`), and
  unfolded; with an agent filter (the organisation's busiest agent) they group the calls
  themselves — all are measured;
- `store.success.success` (the KPI strip's success rate): the verdict over the period alone from
  the hourly rollup (migration 0019), and, reading every listed call's analysis JSON, the verdict
  with every status (as before 0019) and a custom field;
- the analytics page and the calls list's first page (with its KPI strip) through the real app
  in-process (`TestClient`: server time, no network), signed in with the organisation's key.

Prints the rows in the range, the plan of each statement a report runs, and `uptime` before and
after (the machine is shared: read the figures with it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, func, select

from bench.load import tenants_path
from callplane.api.app import create_app
from callplane.config import Settings
from callplane.domain.call import CallStatus
from callplane.domain.query import CallQuery, Range
from callplane.store import reports, success
from callplane.store.db import Database
from callplane.store.schema import calls
from callplane.web import charts

DAY_MS = 86_400_000
ZONE = ZoneInfo("Asia/Seoul")


def timed(reps: int, work: Callable[[], object]) -> dict[str, float]:
    """Wall time, and the process's CPU time (all its threads, the app's too): on a shared,
    loaded machine the wall time is mostly waiting for a core; the CPU time is the work itself
    (in-process SQLite included)."""
    for _ in range(2):
        work()
    wall, cpu = [], []
    for _ in range(reps):
        start, start_cpu = time.perf_counter(), time.process_time()
        work()
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    wall.sort()
    return {
        "wall_median": round(statistics.median(wall), 1),
        "wall_p95": round(wall[max(0, int(len(wall) * 0.95) - 1)], 1),
        "wall_max": round(wall[-1], 1),
        "cpu_median": round(statistics.median(cpu), 1),
    }


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()


def last_30_days(db: Database, org: str) -> tuple[int, int, date, date]:
    """The calls in the database, the organisation's newest call (Unix ms), and the first and
    last of the 30 whole local days up to it: the range both dashboard benches measure."""
    with db.read() as conn:
        total = conn.execute(select(func.count()).select_from(calls)).scalar_one()
        newest = conn.execute(
            select(func.max(calls.c.listed_at)).where(calls.c.organization_id == org)
        ).scalar_one()
    last = datetime.fromtimestamp(newest / 1000, tz=ZONE).date()
    return total, newest, datetime.fromordinal(last.toordinal() - 29).date(), last


def plans_of(conn: Connection, query: CallQuery, starts: list[int] | None) -> list[str]:
    """The plan of every statement `reports.report` runs, as the database prints it."""
    seen: list[tuple[str, object]] = []

    def keep(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        seen.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", keep)
    try:
        reports.report(conn, query, starts)
    finally:
        event.remove(conn, "before_cursor_execute", keep)
    explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
    plans = []
    for statement, parameters in seen:
        rows = conn.exec_driver_sql(explain + statement, parameters).all()  # type: ignore[arg-type]
        plans.append(" | ".join(str(r[-1]).strip() for r in rows))
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    state = json.loads(tenants_path(args.url).read_text())
    tenant = max(state["tenants"], key=lambda t: t["share"])
    org = tenant["organization_id"]
    db = Database(args.url)
    total, newest, first, last = last_30_days(db, org)
    low = int(datetime(first.year, first.month, first.day, tzinfo=ZONE).timestamp() * 1000)
    query = CallQuery(org, listed_at=Range(low, newest))
    days = charts.period(low, newest, ZONE.key)
    starts = days.folds if days else None
    with db.read() as conn:
        in_range = reports.kpis(conn, query).calls
        busiest = conn.execute(
            select(calls.c.agent_id)
            .where(calls.c.organization_id == org, calls.c.listed_at.between(low, newest))
            .group_by(calls.c.agent_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar_one()
        plans = plans_of(conn, query, starts)
        # Every status is no filter at all, but not one the rollups answer: the same report
        # grouped from the calls themselves, to check the rollups against on real data.
        every = replace(query, statuses=tuple(CallStatus))
        exact = reports.report(conn, query) == reports.report(conn, every)
        folded = reports.report(conn, query, starts)
        exact = (
            exact and folded.kpis == reports.kpis(conn, every) and len(folded.hours) < 31 * len(CallStatus)
        )
        verdict = success.success(conn, query, success.VERDICT)
        verdict_exact = verdict == success.success(conn, every, success.VERDICT)
    by_agent = replace(query, agent_ids=(busiest,))
    out: dict[str, object] = {
        "database": db.engine.dialect.name,
        "calls_in_database": total,
        "organisation_share": tenant["share"],
        "range": f"{first} .. {last} (Asia/Seoul)",
        "calls_in_range": in_range,
        "rollups_equal_the_calls": exact,
        "success_verdict": f"{verdict.succeeded}/{verdict.analysed}",
        "success_rollup_equals_the_calls": verdict_exact,
        "uptime_before": uptime(),
        "plans": plans,
    }

    def statements(fn: Callable[..., object], q: CallQuery) -> Callable[[], object]:
        def run() -> object:
            with db.read() as conn:
                return fn(conn, q)

        return run

    out["store.reports.report, days folded (as the page)"] = timed(
        args.reps, statements(partial(reports.report, starts=starts), query)
    )
    out["store.reports.report"] = timed(args.reps, statements(reports.report, query))
    out["store.reports.kpis"] = timed(args.reps, statements(reports.kpis, query))
    out["store.reports.report, every status (no rollups: as before them)"] = timed(
        args.reps, statements(reports.report, every)
    )
    out["store.reports.report, one agent (no rollups)"] = timed(
        args.reps, statements(reports.report, by_agent)
    )
    out["store.reports.kpis, one agent (no rollups)"] = timed(args.reps, statements(reports.kpis, by_agent))

    def rate(q: CallQuery, field: str) -> Callable[[], object]:
        def run() -> object:
            with db.read() as conn:
                return success.success(conn, q, field)

        return run

    out["store.success.success, verdict (rollup)"] = timed(args.reps, rate(query, success.VERDICT))
    out["store.success.success, verdict, every status (scan: as before 0019)"] = timed(
        args.reps, rate(every, success.VERDICT)
    )
    out["store.success.success, custom field (scan)"] = timed(args.reps, rate(query, "booked"))
    app = create_app(Settings(database_url=args.url, embedded_worker=False), db=db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/dashboard/sign-in").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        signed = client.post(
            "/dashboard/sign-in", data={"csrf": csrf, "api_key": tenant["api_key"]}, follow_redirects=False
        )
        assert signed.status_code == 303, signed.text
        period = {"preset": "custom", "since": first.isoformat(), "until": last.isoformat()}

        def get(path: str) -> Callable[[], object]:
            def run() -> object:
                answer = client.get(path, params=period)
                assert answer.status_code == 200, answer.text[:500]
                return answer

            return run

        out["GET /dashboard/analytics"] = timed(args.reps, get("/dashboard/analytics"))
        out["GET /dashboard/calls"] = timed(args.reps, get("/dashboard/calls"))
    out["uptime_after"] = uptime()
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
