"""The dashboard's list pages and a call's page on a loaded data set (bench/load.py), for the
largest organisation's last 30 days: the issue's "pages render in ≤ 100 ms server time for lists
at 1M calls".

    python -m bench.dashboard_pages postgresql://postgres@127.0.0.1:5432/callplane_bench [--reps 10] \
        [--tenants /work/main/bench/data/callplane_bench.tenants.json]

Through the real app in-process (`TestClient`: server time, no network), signed in with the
organisation's key, each page `--reps` times after two warm-ups (median, p95, max wall ms and the
process's CPU ms, `analytics_bench.timed`): the calls list's first page, its
second page (the next-page link's cursor), a Korean transcript search (`예약`, the generator's
common word, and `누수`, its rare one), a status + reason filter, a metadata filter, a call's
page and the campaigns list; and, apart, the summary (total and KPI strip) the list loads after
itself, which reads every matching call. Reads only. Prints `uptime` before and
after (the machine is shared: read the figures with it).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from bench.analytics_bench import last_30_days, timed, uptime
from bench.load import tenants_path
from callplane.api.app import create_app
from callplane.config import Settings
from callplane.store.db import Database

NEXT = re.compile(r'id="next-page" href="([^"]+)"')
CALL = re.compile(r'data-call-id="([0-9a-f-]+)"')


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--tenants", type=Path, help="the load's tenants file (default: bench/data's)")
    args = parser.parse_args()
    tenants = json.loads((args.tenants or tenants_path(args.url)).read_text())["tenants"]
    tenant = max(tenants, key=lambda t: t["share"])
    org = tenant["organization_id"]
    db = Database(args.url)
    total, _, first, last = last_30_days(db, org)
    period = {"preset": "custom", "since": first.isoformat(), "until": last.isoformat()}
    out: dict[str, object] = {"calls_in_database": total, "organization": org, "period": period}
    out["uptime_before"] = uptime()
    app = create_app(Settings(database_url=args.url, embedded_worker=False), db=db)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/dashboard/sign-in").text
        csrf = page.split('name="csrf" value="')[1].split('"')[0]
        signed = client.post(
            "/dashboard/sign-in", data={"csrf": csrf, "api_key": tenant["api_key"]}, follow_redirects=False
        )
        assert signed.status_code == 303, signed.text

        def get(path: str, params: dict[str, str] | None = None) -> Callable[[], object]:
            def run() -> object:
                answer = client.get(path, params=params)
                assert answer.status_code == 200, answer.text[:500]
                return answer

            return run

        listing = client.get("/dashboard/calls", params=period).text
        next_page = NEXT.search(listing)
        call_id = CALL.search(listing)
        assert next_page is not None and call_id is not None, "the period lists less than a page"
        out["GET /dashboard/calls (first page)"] = timed(args.reps, get("/dashboard/calls", period))
        out["GET /dashboard/calls (second page, cursor)"] = timed(
            args.reps, get(next_page.group(1).replace("&amp;", "&"))
        )
        for word in ("예약", "누수"):
            out[f"GET /dashboard/calls?q={word}"] = timed(
                args.reps, get("/dashboard/calls", {**period, "q": word})
            )
        out["GET /dashboard/calls?status=not_connected&reason=dial_busy"] = timed(
            args.reps, get("/dashboard/calls", {**period, "status": "not_connected", "reason": "dial_busy"})
        )
        out["GET /dashboard/calls?meta=crm=zoho"] = timed(
            args.reps, get("/dashboard/calls", {**period, "meta": "crm=zoho"})
        )
        # The total and KPI strip, which the list loads after itself (`calls.summary_fragment`).
        for label, extra in (("", {}), ("?q=예약", {"q": "예약"}), ("?meta=crm=zoho", {"meta": "crm=zoho"})):
            out[f"GET /dashboard/calls/summary{label} (after the page)"] = timed(
                args.reps, get("/dashboard/calls/summary", {**period, **extra})
            )
        out["GET /dashboard/calls/{id}"] = timed(args.reps, get(f"/dashboard/calls/{call_id.group(1)}"))
        out["GET /dashboard/campaigns"] = timed(args.reps, get("/dashboard/campaigns"))
    out["uptime_after"] = uptime()
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
