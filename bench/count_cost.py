"""What `total_count` adds to a list, in process: each shape with and without its count.

    python -m bench.count_cost --url sqlite:///bench/data/bench-1m.db [--reps 11] [--only metadata]

`listing.list_calls` for the largest organisation, count off and on, alternating, median and p95
of `--reps` runs each (ms). No HTTP: the difference is the count alone. Load average printed.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace

from sqlalchemy import func, select

from bench import gen
from bench.load import tenants_path
from bench.run import p
from callplane.domain.call import CallStatus
from callplane.domain.query import CallQuery, CountMode, Range
from callplane.store import listing
from callplane.store.db import Database
from callplane.store.schema import calls

DAY = 86_400_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--reps", type=int, default=11)
    parser.add_argument("--only", default="", help="measure only the shapes whose name contains this")
    args = parser.parse_args()
    state = json.loads(tenants_path(args.url).read_text())
    tenant = max(state["tenants"], key=lambda t: t["share"])
    org = tenant["organization_id"]
    since = gen.END_MS - 30 * DAY
    db = Database(args.url, pool_size=2)
    with db.read() as conn:
        # A partly loaded set (416k calls of the 1M generator) ends before the generator does.
        newest = conn.execute(
            select(func.max(calls.c.listed_at)).where(calls.c.organization_id == org)
        ).scalar_one()
    shapes = {
        "first page": CallQuery(organization_id=org),
        "agent + status + last 30 d": CallQuery(
            organization_id=org,
            agent_ids=(tenant["agent_ids"][0],),
            statuses=(CallStatus.ENDED,),
            start_at=Range(since, None),
        ),
        "duration 10–20 min": CallQuery(organization_id=org, duration_ms=Range(600_000, 1_200_000)),
        "metadata campaign (10%)": CallQuery(organization_id=org, metadata=(("campaign", "campaign_03"),)),
        "metadata campaign + listed in its newest 30 d": CallQuery(
            organization_id=org,
            metadata=(("campaign", "campaign_03"),),
            listed_at=Range(newest - 30 * DAY, None),
        ),
        **{
            f"search '{word}'": CallQuery(organization_id=org, search=word)
            for word in ("리콜대상", "주문번호", "누수", "예약", "재약정", "누", "뷁")
        },
        "search '주문번호' + last 30 d": CallQuery(
            organization_id=org, search="주문번호", start_at=Range(since, None)
        ),
    }
    print(f"load average before {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, q in shapes.items():
        if args.only not in name:
            continue
        times: dict[CountMode, list[float]] = {CountMode.NONE: [], CountMode.EXACT: []}
        total = None
        for _ in range(args.reps):
            for mode in times:
                with db.read() as conn:
                    started = time.perf_counter()
                    page = listing.list_calls(conn, replace(q, count=mode))
                    times[mode].append((time.perf_counter() - started) * 1000)
                total = page.total or total
        none, exact = times[CountMode.NONE], times[CountMode.EXACT]
        shown = "" if total is None else f"{total.value:,}{'' if total.exact else ' ≈'}"
        cells = [f"{p(none, 0.5):.2f} / {p(none, 0.95):.2f}", f"{p(exact, 0.5):.2f} / {p(exact, 0.95):.2f}"]
        added = p(exact, 0.5) - p(none, 0.5)
        print(f"| {name} | {cells[0]} | {cells[1]} | {added:+.2f} | {shown} |", flush=True)
    print(f"load average after {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    db.dispose()


if __name__ == "__main__":
    main()
