"""Do totals tell the truth? 30 identical requests per list shape, against a brute-force count.

    python -m bench.totals --url sqlite:///bench/data/bench-1m.db [--burn 2] [--requests 30]

For every shape of `bench.run` (with `include_total`), the same Vox request is sent `--requests`
times to `callplane serve` on loopback; the report lists the distinct `total_count`s seen, the
brute-force count (SQL with the filters and no index choice at all; a search's text matched in
Python, capped like its list at `MAX_SEARCH_RESULTS`), and the API p50 / p95 of those requests.
`--burn N` runs N processes spinning on the CPU meanwhile (a loaded host). The load average is
printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bench.load import tenants_path
from bench.run import Shape, api_call, deep_cursor, p, probe_customer, server, shapes, to_query, with_total
from callplane.domain.query import MAX_SEARCH_RESULTS, CallQuery
from callplane.domain.search import normalize
from callplane.engine.services.cursors import Cursors
from callplane.store import predicates
from callplane.store.db import Database
from callplane.store.schema import calls

ROOT = Path(__file__).parent


def brute_force(db: Database, q: CallQuery) -> tuple[int, int]:
    """(what `total_count` must say, every match) for the query, the slow and obvious way."""
    plain = replace(q, search=None, cursor=None, offset=0)
    with db.read() as conn:
        where = predicates.filters(plain, conn.dialect.name)
        if q.search is None:
            n = int(conn.execute(select(func.count()).select_from(calls).where(*where)).scalar_one())
            return n, n
        needle = normalize(q.search)
        texts = conn.execute(select(calls.c.search_text).where(*where)).scalars()
        n = sum(1 for t in texts if t and needle in t)
    return min(n, MAX_SEARCH_RESULTS), n


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--burn", type=int, default=0, help="processes spinning on the CPU meanwhile")
    parser.add_argument("--out", type=Path, default=ROOT / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    state = json.loads(tenants_path(args.url).read_text())
    tenant = max(state["tenants"], key=lambda t: t["share"])
    org = tenant["organization_id"]
    db = Database(args.url, pool_size=2)
    key = Cursors(db, lambda: int(time.time() * 1000)).key()
    tenant["probe_customer"] = probe_customer(db, org)
    # Row 10,000 as in bench.run, or half the organisation on a small data set.
    depth = min(10_000, int(state["calls"] * tenant["share"]) // 2)
    measured = [with_total(s, True) for s in shapes(tenant, deep_cursor(db, org, key, depth))]
    truth = {s.name: brute_force(db, to_query(s, org, key)) for s in measured}
    kind = "sqlite" if db.is_sqlite else "postgres"
    print(f"{kind}: load average before {load_average()}", flush=True)
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.burn)]
    rows: list[dict[str, Any]] = []
    try:
        with (
            server(args.url, args.out / f"server-totals-{kind}.log") as base,
            httpx.Client(base_url=base, timeout=120) as client,
        ):
            for shape in measured:
                rows.append(measure(client, shape, tenant["api_key"], args.requests, truth[shape.name]))
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    after = load_average()
    print(f"{kind}: load average after {after}", flush=True)
    (args.out / f"totals-{kind}{'-burn' if args.burn else ''}.json").write_text(
        json.dumps({"kind": kind, "burn": args.burn, "load_after": after, "shapes": rows}, ensure_ascii=False)
    )
    db.dispose()


def measure(
    client: httpx.Client, shape: Shape, api_key: str, n: int, truth: tuple[int, int]
) -> dict[str, Any]:
    totals: list[int] = []
    times: list[float] = []
    failed: dict[str, int] = {}
    for _ in range(n):
        started = time.perf_counter()
        try:
            body = api_call(client, shape, api_key).json()
        except httpx.HTTPStatusError as exc:
            # A slow host's timeout is an answer too (not a total): counted, never a crash.
            why = f"HTTP {exc.response.status_code}"
            failed[why] = failed.get(why, 0) + 1
            continue
        times.append((time.perf_counter() - started) * 1000)
        totals.append(body["total_count"])
    return {
        "shape": shape.name,
        "answers": sorted(set(totals)),
        "failed": failed,
        "brute_force": truth[0],
        "matches": truth[1],
        "deterministic": len(set(totals)) == 1 and not failed,
        "true": set(totals) == {truth[0]},
        "api_p50": round(p(times, 0.5), 2),
        "api_p95": round(p(times, 0.95), 2),
    }


if __name__ == "__main__":
    main()
