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

Self-contained like the other benches: it makes its tenants and calls through the project's own
admin use cases and call store (run from the repository's root).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.chaos import fresh_database
from callplane.domain.call import AgentRef, Call, CallStatus, CallType, Direction, DisconnectionReason
from callplane.domain.ids import new_id
from callplane.domain.phone import parse_kr
from callplane.domain.principal import TENANT_SCOPES
from callplane.engine.clock import SystemClock
from callplane.engine.services.admin import Admin
from callplane.store import creating
from callplane.store.db import Database
from callplane.store.migrate import upgrade

CALLS = 3000
SAMPLES = 60
PHRASES = ["예약 확인 부탁드립니다", "네 알겠습니다", "다음 주 화요일 가능할까요", "help me please"]
HEAVIEST = {"filter_criteria": {"metadata": {"campaign": "spring"}}, "limit": 500, "include_total": True}
AGENT = {
    "name": "isolation",
    "type": "flow",
    "flow": {
        "start": "hello",
        "nodes": {"hello": {"type": "end", "say": "안녕하세요", "reason": "agent_hangup"}},
    },
}


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    agent_id: str
    headers: dict[str, str]


def _tenant(db: Database, name: str, number: str) -> Tenant:
    admin = Admin(db, SystemClock().now_ms)
    org = admin.create_organization(name, calling_window={"start": "00:00", "end": "24:00"})
    admin.add_number(org.id, parse_kr(number, "n"), "main")
    agent = admin.create_agent(org.id, AGENT)
    key = admin.issue_key(org.id, "bench", scopes=TENANT_SCOPES)
    return Tenant(org.id, agent.id, {"Authorization": f"Bearer {key.key}"})


def _ended_call(rng: random.Random, tenant: Tenant, start_at: int) -> Call:
    """An answered call of a minute, with a line of transcript and a campaign in its metadata."""
    return Call(
        id=new_id(),
        organization_id=tenant.organization_id,
        agent=AgentRef(tenant.agent_id, "current", 1),
        call_type=CallType.OUTBOUND,
        direction=Direction.OUTBOUND,
        status=CallStatus.ENDED,
        from_number="+827011112222",
        to_number=f"+8210{rng.randint(10_000_000, 99_999_999)}",
        presentation_number=None,
        created_at=start_at - 1000,
        updated_at=start_at + 60_000,
        due_at=start_at - 1000,
        metadata={"campaign": rng.choice(["spring", "summer", "fall"]), "customer_id": rng.randint(1, 50)},
        dynamic_variables={"customer_name": "홍길동"},
        disconnection_reason=DisconnectionReason.USER_HANGUP,
        start_at=start_at,
        answered_at=start_at + 2000,
        end_at=start_at + 60_000,
        duration_ms=60_000,
        transcript=[{"role": "user", "content": rng.choice(PHRASES), "start_at": 0, "end_at": 1}],
    )


def _insert(db: Database, found: list[Call]) -> None:
    with db.write() as conn:
        for call in found:
            creating.insert_call(conn, call)


@contextmanager
def server(db: Database) -> Iterator[str]:
    """The real app under uvicorn in a process of its own; its base URL once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    env = {**os.environ, "CALLPLANE_DATABASE_URL": db.url, "CALLPLANE_EMBEDDED_WORKER": "false"}
    command = [sys.executable, "-m", "uvicorn", "--factory", "callplane.api.app:create_app"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # the app takes seconds of CPU to import on a loaded host
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _median_ms(client: httpx.Client, url: str, headers: dict[str, str], samples: int) -> float:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(timings)


def measure(db: Database) -> str:
    heavy = _tenant(db, "heavy", "07011112222")
    light = _tenant(db, "light", "07033334444")
    rng = random.Random(15)
    start = 1_767_225_600_000
    _insert(db, [_ended_call(rng, heavy, start + i * 1000) for i in range(CALLS)])
    own = _ended_call(rng, light, start)
    _insert(db, [own])
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
