"""Does one tenant's heaviest allowed query slow another tenant's reads? (a timing: run by hand)

A real server (`uvicorn` running the real app in its own process, as `callplane serve` does, so
the clients do not share its interpreter) on 127.0.0.1. Tenant A runs the largest list request the
caps allow (a full page of Vox v2's 500 calls with transcripts and a count) over and over;
meanwhile tenant B reads one call. Reported: B's median latency idle and busy, their ratio, and
A's median. With database work on the event loop B waited for each of A's queries (busy ≈ heavy,
x6–x27 measured); off the loop it only shares the CPU and the GIL (x1.1–x2.4 on a quiet host,
up to x4 while other suites ran). The property without timing is a test
(`tests/api/test_isolation.py`: A held on a lock in PostgreSQL, B answered meanwhile).

    python -m bench.isolation                                   # a fresh SQLite file
    python -m bench.isolation --database-url postgresql://postgres@127.0.0.1:5432/callplane_iso

Uses the test suite's factories for the data (run from the repository's root).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from tests.api.test_isolation import server
from tests.factories import ended_saying, insert_calls, make_tenant, random_call

from bench.chaos import fresh_database
from callplane.engine.clock import SystemClock
from callplane.store.db import Database
from callplane.store.migrate import upgrade

CALLS = 3000
SAMPLES = 60
PHRASES = ["예약 확인 부탁드립니다", "네 알겠습니다", "다음 주 화요일 가능할까요", "help me please"]
HEAVIEST = {"filter_criteria": {"metadata": {"campaign": "spring"}}, "limit": 500, "include_total": True}


def _median_ms(client: httpx.Client, url: str, headers: dict[str, str], samples: int) -> float:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(timings)


def measure(db: Database) -> str:
    now = SystemClock().now_ms()
    heavy = make_tenant(db, now, name="heavy")
    light = make_tenant(db, now, name="light")
    rng = random.Random(15)
    start = 1_767_225_600_000
    insert_calls(
        db,
        [
            ended_saying(
                random_call(rng, heavy.organization_id, [heavy.agent_id], start_at=start + i * 1000),
                [{"role": "user", "content": rng.choice(PHRASES), "start_at": 0, "end_at": 1}],
            )
            for i in range(CALLS)
        ],
    )
    own = random_call(rng, light.organization_id, [light.agent_id], start_at=start)
    insert_calls(db, [own])
    stop = threading.Event()
    heavy_runs: list[float] = []

    def hammer(base: str) -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            while not stop.is_set():
                started = time.perf_counter()
                client.post("/v2/calls/list", json=HEAVIEST, headers=heavy.headers).raise_for_status()
                heavy_runs.append((time.perf_counter() - started) * 1000)

    with server(db) as base, httpx.Client(base_url=base, timeout=120) as client:
        url = f"/v3/calls/{own.id}"
        _median_ms(client, url, light.headers, 10)  # warm connections and caches
        idle = _median_ms(client, url, light.headers, SAMPLES)
        thread = threading.Thread(target=hammer, args=(base,), daemon=True)
        thread.start()
        try:
            while len(heavy_runs) < 2 and thread.is_alive():
                time.sleep(0.01)
            busy = _median_ms(client, url, light.headers, SAMPLES)
        finally:
            stop.set()
            thread.join(timeout=120)
    heavy_ms = statistics.median(heavy_runs)
    return f"idle {idle:.2f} ms, busy {busy:.2f} ms (x{busy / idle:.1f}), heavy query {heavy_ms:.1f} ms"


def main() -> None:
    # The server inherits these: the heavy tenant's loop and the samples would meet the default
    # per-key rate limits, which are not what is measured.
    for name in ("RATE_LIMIT_PER_KEY", "RATE_LIMIT_PER_ORGANIZATION", "RATE_LIMIT_AUTH_FAILURES"):
        os.environ.setdefault(f"CALLPLANE_{name}", "1000000/second")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="PostgreSQL, dropped and created afresh (default: SQLite)")
    args = parser.parse_args()
    if args.database_url:
        fresh_database(args.database_url)
        url = args.database_url
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='isolation-')) / 'callplane.db'}"
    db = Database(url)
    upgrade(db)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(db.dialect, measure(db))
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    db.dispose()


if __name__ == "__main__":
    main()
