"""Engine benchmark: many concurrent simulated calls in one worker process.

Creates an organisation with the demo agent, runs one `Worker` with the real Conductor on the
simulated line and feeds it N calls (wall-clock time, the simulator's `speed` as given) until
every call is terminal and post-called. Reports:

- calls/s — calls finished (terminal + post-call) per second, first arrival to last finish;
- dispatched/s — claims per second, first claim to last (the claim passes' own pace), beside
  the bound the capacity sets (capacity ÷ how long a call is live): a run whose calls/s is near
  that bound measured the capacity, not the worker;
- queue-to-claim — `start_at - created_at`: how long a new call waited to be claimed (calls
  arrive at `--rate` per second from another thread, like API requests, waking the worker);
- claim-to-dial — from the claim to the Conductor starting to dial it (p50/p95);
- memory per live call — process RSS above the idle worker's, divided by the live calls at the
  moment with the most live calls;
- CPU per call — the process's CPU time during the run less the arrival thread's (call creation
  is the API's work, not the worker's), divided by the calls; on PostgreSQL also the CPU of the
  server backends serving the worker (from /proc), and the HOT share of `calls` updates.

    python bench/engine_bench.py --calls 2000 --rate 100 --capacity 2000 --speed 1
    python bench/engine_bench.py --calls 2000 --capacity 1000 --speed 20 --preload

A worker starts with a ramp (`WorkerConfig.claim_ramp_s`: five calls at first, doubling each
second), which the bench leaves out unless `--ramp-s 1` asks for it: the figures are a running
worker's, not its first seconds'.
    python bench/engine_bench.py --database-url postgresql://postgres@127.0.0.1/bench

The machine is usually shared: the report starts with `uptime`'s load averages. Figures seen:
`bench/engine_bench.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, text

from callplane.api.dialects import webhooks as webhook_formats
from callplane.cli.demo import demo_agent_file
from callplane.config import Settings
from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus
from callplane.domain.phone import parse_kr
from callplane.engine.clock import SystemClock
from callplane.engine.jobs.worker import Worker, WorkerConfig
from callplane.engine.live.conduct import CallHooks, Conductor, Outcome
from callplane.engine.live.conductor import build_conductor
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService, NewCall
from callplane.engine.services.webhooks import WebhookAdmin
from callplane.store import queue
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from callplane.store.schema import calls


class TimedConductor:
    """Delegates to the real conductor; notes when each call starts to be dialled."""

    def __init__(self, inner: Conductor, clock: SystemClock) -> None:
        self.inner = inner
        self.clock = clock
        self.dial_at: dict[str, int] = {}
        self.done_at: dict[str, int] = {}

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        self.dial_at[call.id] = self.clock.now_ms()
        try:
            return await self.inner.conduct(call, version, hooks)
        finally:
            self.done_at[call.id] = self.clock.now_ms()


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}\nuptime: {load}"
    )


def setup(db: Database, *, webhook: bool = False) -> tuple[str, str, str]:
    clock = SystemClock()
    admin = Admin(db, clock.now_ms)
    org = admin.create_organization(
        "bench",
        calling_window={"start": "00:00", "end": "24:00"},
        max_concurrent_calls=100_000,
        max_queue_wait_s=None,
        balance=None,
    )
    number = parse_kr("07011112222", "n")
    admin.add_number(org.id, number)
    agent = admin.create_agent(org.id, demo_agent_file())
    if webhook:
        webhook_formats.register()  # as the CLI does before a worker starts
        # Every event is emitted (written to the outbox with its transition); the relay that
        # would deliver them is off (`run_relay=False`): nothing leaves the process.
        WebhookAdmin(db, clock.now_ms, allow_private=True).add(org.id, "http://127.0.0.1:9/hooks")
    return org.id, agent.id, number


def backend_cpu_s(db: Database) -> dict[int, float]:
    """CPU seconds used so far by each of this database's PostgreSQL backends named `callplane`
    (subtract a reading taken at the start; a backend that left the pool meanwhile is missed)."""
    with db.read() as conn:
        pids = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'callplane' "
                "AND datname = current_database()"
            )
        ).scalars()
        found = {}
        for pid in pids:
            try:
                found[pid] = process_cpu_s(pid)
            except OSError:
                continue  # gone, or not on this machine
    return found


def hot_updates(db: Database) -> tuple[int, int]:
    with db.read() as conn:
        row = conn.execute(
            text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'calls'")
        ).one()
    return int(row.n_tup_upd), int(row.n_tup_hot_upd)


def start_workers(db: Database, args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    """`--workers N`: N - 1 more `callplane worker` processes beside the measured one."""
    env = {
        **os.environ,
        "CALLPLANE_DATABASE_URL": db.url,
        "CALLPLANE_WORKER_CAPACITY": str(args.capacity),
        "CALLPLANE_SIMULATOR_SPEED": str(args.speed),
        "CALLPLANE_WORKER_POLL_INTERVAL_S": "0.2",
        "CALLPLANE_WORKER_CLAIM_RAMP_S": str(args.ramp_s),
        "CALLPLANE_LOG_LEVEL": "warning",
    }
    return [
        subprocess.Popen([sys.executable, "-m", "callplane", "worker"], env=env, stdout=subprocess.DEVNULL)
        for _ in range(args.workers - 1)
    ]


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def count_statements(db: Database, counts: Counter[str]) -> None:
    """Count every statement (by its first words and table) and every commit, from now on."""

    def before(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = statement.split()
        table = next((w for w in words[1:8] if w.startswith(("calls", "webhook", "org", "agent"))), "")
        counts[f"{words[0]} {table}".strip()] += 1

    def commit(_conn: Any) -> None:
        counts["COMMIT"] += 1

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "commit", commit)


def arrivals(
    db: Database,
    org_id: str,
    agent_id: str,
    number: str,
    args: argparse.Namespace,
    worker: Worker,
    ids: list[str],
    feeder_cpu: list[float],
    *,
    paced: bool = True,
    count: int | None = None,
) -> None:
    """Create the calls at `--rate` per second, as the API would: another thread, waking the worker."""
    service = CallService(db, SystemClock().now_ms, on_created=worker.wake)
    start = time.perf_counter()
    cpu_start = time.thread_time()
    for i in range(args.calls if count is None else count):
        delay = start + i / args.rate - time.perf_counter()
        if paced and delay > 0:
            time.sleep(delay)
        call = service.create(
            org_id,
            NewCall(
                from_number=number,
                to_number=parse_kr(f"010{20_000_000 + i:08d}", "n"),
                agent_id=agent_id,
                dynamic_variables={"customer_name": "홍길동", "appointment_at": "2026-05-10 14:00"},
            ),
        ).call
        ids.append(call.id)
    feeder_cpu.append(time.thread_time() - cpu_start)


async def run(
    db: Database, org_id: str, agent_id: str, number: str, args: argparse.Namespace
) -> dict[str, Any]:
    clock = SystemClock()
    settings = Settings(simulator_speed=args.speed)
    conductor = TimedConductor(build_conductor(settings, clock), clock)
    config = WorkerConfig(
        capacity=args.capacity,
        poll_interval_s=0.2,
        run_relay=False,
        db_threads=args.db_threads,
        claim_ramp_s=args.ramp_s,
    )
    worker = Worker(db, conductor, clock=clock, config=config)
    ids: list[str] = []
    feeder_cpu: list[float] = []
    if args.preload:
        # The whole backlog is queued before the worker starts: its dispatch rate alone, with no
        # arrival thread competing for the process's one interpreter lock.
        arrivals(db, org_id, agent_id, number, args, worker, ids, feeder_cpu, paced=False)
    base_rss = rss_bytes()
    hot_before = hot_updates(db) if db.is_postgres else (0, 0)
    server_before = backend_cpu_s(db) if db.is_postgres else {}
    others = start_workers(db, args)
    others_cpu = [process_cpu_s(p.pid) for p in others]
    started = time.perf_counter()
    cpu_started = time.process_time()
    task = asyncio.create_task(worker.run())
    await asyncio.sleep(0)
    feeder = threading.Thread(
        target=arrivals,
        args=(db, org_id, agent_id, number, args, worker, ids if not args.preload else [], feeder_cpu),
        kwargs={"paced": True, "count": 0 if args.preload else args.calls},
    )
    feeder.start()
    peak_live, peak_rss_delta, per_call = 0, 0, 0.0
    while True:
        await asyncio.sleep(0.25)
        live = worker.live_calls
        if live > peak_live:
            peak_live = live
            peak_rss_delta = rss_bytes() - base_rss
            per_call = peak_rss_delta / live
        with db.read() as conn:
            pending = conn.execute(
                select(calls.c.id)
                .where(
                    calls.c.organization_id == org_id,
                    (calls.c.status.not_in([s.value for s in CallStatus if s.is_terminal]))
                    | calls.c.postcall_due_at.is_not(None),
                )
                .limit(1)
            ).first()
        if pending is None and not feeder.is_alive():
            break
    elapsed = time.perf_counter() - started
    worker_cpu = time.process_time() - cpu_started - (0 if args.preload else sum(feeder_cpu))
    worker_cpu += sum(process_cpu_s(p.pid) - c for p, c in zip(others, others_cpu, strict=True))
    for process in others:
        process.terminate()
        process.wait()
    server_after = backend_cpu_s(db) if db.is_postgres else {}
    server_cpu = sum(cpu - server_before.get(pid, 0.0) for pid, cpu in server_after.items())
    worker.stop()
    await task
    hot_after = hot_updates(db) if db.is_postgres else (0, 0)
    with db.read() as conn:
        rows = conn.execute(
            select(calls.c.id, calls.c.created_at, calls.c.start_at, calls.c.status).where(
                calls.c.organization_id == org_id
            )
        ).all()
        still_live = queue.live_count(conn, org_id)
    queue_ms = [r.start_at - r.created_at for r in rows if r.start_at is not None]
    dial_ms = [conductor.dial_at[r.id] - r.start_at for r in rows if r.id in conductor.dial_at and r.start_at]
    held_ms = [
        conductor.done_at[i] - conductor.dial_at[i] for i in conductor.done_at if i in conductor.dial_at
    ]
    starts = sorted(r.start_at for r in rows if r.start_at is not None)
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r.status] = statuses.get(r.status, 0) + 1
    return {
        "calls": len(ids),
        "elapsed_s": elapsed,
        "calls_per_s": len(ids) / elapsed,
        # Claims per second from the first claim to the last (the dispatch rate itself).
        "dispatched_per_s": (len(starts) - 1) * 1000 / max(1, starts[-1] - starts[0]) if starts else 0.0,
        "call_s": statistics.mean(held_ms) / 1000 if held_ms else float("nan"),
        "peak_live": peak_live,
        "rss_delta_mb": peak_rss_delta / 2**20,
        "kb_per_live_call": per_call / 1024,
        "queue_to_claim_ms": (statistics.median(queue_ms), pct(queue_ms, 95)),
        "claim_to_dial_ms": (statistics.median(dial_ms), pct(dial_ms, 95)),
        "statuses": statuses,
        "still_live": still_live,
        "cpu_ms_per_call": worker_cpu * 1000 / max(1, len(ids)),
        "server_cpu_ms_per_call": server_cpu * 1000 / max(1, len(ids)),
        "updates": hot_after[0] - hot_before[0],
        "hot_updates": hot_after[1] - hot_before[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--capacity", type=int, default=1000, help="the worker's live-call capacity")
    parser.add_argument("--rate", type=float, default=100.0, help="calls created per second")
    parser.add_argument("--speed", type=float, default=1.0, help="simulator speed (1 = people's pace)")
    parser.add_argument(
        "--preload", action="store_true", help="queue every call before the worker starts (dispatch rate)"
    )
    parser.add_argument(
        "--statements", action="store_true", help="count the statements and commits per call, by kind"
    )
    parser.add_argument(
        "--ramp-s",
        type=float,
        default=0.0,
        help="the worker's start-up ramp (WorkerConfig.claim_ramp_s; production: 1.0, five calls "
        "at first, doubling each second). 0 (default): the steady state from the first second",
    )
    parser.add_argument(
        "--webhook",
        action="store_true",
        help="give the organisation a webhook endpoint: every call's events are emitted to the "
        "outbox (the relay that delivers them stays off)",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (PostgreSQL)")
    parser.add_argument(
        "--db-threads", type=int, default=WorkerConfig().db_threads, help="the measured worker's lanes"
    )
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.database_url or f"sqlite:///{tmp}/bench.db", pool_size=20)
        upgrade(db)
        print(machine())
        print(
            f"database: {db.dialect}; {args.calls} calls arriving at {args.rate}/s, "
            f"worker capacity {args.capacity}, simulator speed {args.speed}, start-up ramp {args.ramp_s} s"
            + (" (all queued before the worker starts)" if args.preload else "")
            + (", webhook events emitted" if args.webhook else ", no webhook endpoint")
        )
        counts: Counter[str] = Counter()
        if args.statements:
            count_statements(db, counts)
        result = asyncio.run(run(db, *setup(db, webhook=args.webhook), args))
        db.dispose()
    q50, q95 = result["queue_to_claim_ms"]
    d50, d95 = result["claim_to_dial_ms"]
    print(
        f"finished {result['calls']} calls in {result['elapsed_s']:.1f} s: "
        f"{result['calls_per_s']:.1f} calls/s"
    )
    print(
        f"dispatched (claims per second, first claim to last): {result['dispatched_per_s']:.1f}/s; "
        f"a call is live {result['call_s']:.2f} s (conductor, wall), so capacity {args.capacity} "
        f"allows at most {args.capacity / result['call_s']:.0f} calls/s"
    )
    print(f"statuses: {result['statuses']} (still live: {result['still_live']})")
    print(f"queue-to-claim: p50 {q50:.0f} ms, p95 {q95:.0f} ms")
    print(f"claim-to-dial:  p50 {d50:.1f} ms, p95 {d95:.1f} ms")
    print(
        f"memory: peak {result['peak_live']} live calls, RSS +{result['rss_delta_mb']:.1f} MiB, "
        f"{result['kb_per_live_call']:.1f} KiB per live call"
    )
    print(
        f"worker CPU per call: {result['cpu_ms_per_call']:.2f} ms (arrivals excluded; "
        f"{args.workers} worker process(es), claim-to-dial from the first)"
    )
    if result["updates"]:
        print(
            f"PostgreSQL: backends' CPU per call {result['server_cpu_ms_per_call']:.2f} ms (arrivals "
            f"included unless preloaded; this process's backends only); calls updates "
            f"{result['updates']}, HOT {result['hot_updates']} "
            f"({100 * result['hot_updates'] / result['updates']:.0f} %)"
        )
    if counts:
        print("statements per call:")
        for kind, n in counts.most_common(25):
            print(f"  {n / result['calls']:6.2f}  {kind}")
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
