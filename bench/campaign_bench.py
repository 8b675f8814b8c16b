"""Campaign benchmark: does a 100,000-task campaign slow ordinary calls down?

One worker (wall-clock time) runs ordinary calls that arrive at `--rate` per second, twice on a
fresh database each time: once alone, once while another organisation's campaign of `--tasks`
tasks runs at concurrency `--concurrency` (its calls on the same worker). Calls are a stand-in
conductor that waits `--call-s` seconds (the simulated line's speech would only add noise).
Reports for the ordinary calls:

- queue-to-claim — `start_at - created_at`, how long a new call waited for a claim pass;
- claim-to-dial — from the claim to the conductor starting it (p50/p95);
- the claim pass itself — wall time of `dispatcher.dispatch` passes that claimed something;

and the time the campaign's tasks took to load (one bulk insert through `CampaignService`).

    python -m bench.campaign_bench --tasks 100000 --calls 500 --rate 50
    python -m bench.campaign_bench --database-url postgresql://postgres@127.0.0.1/campaign_bench

The machine is usually shared: the report prints `uptime`'s load averages before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Any

from sqlalchemy import select, text

from bench.engine_bench import machine, pct
from callplane.cli.demo import demo_agent_file
from callplane.domain.agent import AgentVersion
from callplane.domain.call import Call, CallStatus, DisconnectionReason
from callplane.domain.campaign import NewTask, Windows
from callplane.domain.org import CallingWindow
from callplane.domain.phone import parse_kr
from callplane.engine.clock import SystemClock
from callplane.engine.jobs import dispatcher
from callplane.engine.jobs.worker import Worker, WorkerConfig
from callplane.engine.live.conduct import CallHooks, Outcome
from callplane.engine.services.admin import Admin
from callplane.engine.services.calls import CallService, NewCall
from callplane.engine.services.campaigns import CampaignDraft, CampaignService
from callplane.store.db import Database
from callplane.store.migrate import upgrade
from callplane.store.schema import calls, metadata


class WaitingConductor:
    """Answers at once and talks for `seconds`; notes when each call started."""

    def __init__(self, clock: SystemClock, seconds: float) -> None:
        self.clock = clock
        self.seconds = seconds
        self.dial_at: dict[str, int] = {}

    async def conduct(self, call: Call, version: AgentVersion, hooks: CallHooks) -> Outcome:
        self.dial_at[call.id] = self.clock.now_ms()
        await hooks.answered(self.clock.now_ms())
        await asyncio.sleep(self.seconds)
        return Outcome(CallStatus.ENDED, DisconnectionReason.USER_HANGUP, self.clock.now_ms())


def organisation(db: Database, name: str, n: int) -> tuple[str, str, str]:
    admin = Admin(db, SystemClock().now_ms)
    org = admin.create_organization(
        name,
        calling_window={"start": "00:00", "end": "24:00"},
        max_concurrent_calls=1000,
        max_queue_wait_s=None,
        balance=None,
    )
    number = parse_kr(f"070{n:04d}2222", "n")
    admin.add_number(org.id, number)
    return org.id, admin.create_agent(org.id, demo_agent_file()).id, number


def load_campaign(db: Database, args: argparse.Namespace, count: int, waiting: bool) -> float:
    """A campaign of `count` tasks; `waiting`: scheduled a day ahead, so it is pending all along."""
    org_id, agent_id, number = organisation(db, "campaign org", 9)
    tasks = [
        NewTask(parse_kr(f"010{30_000_000 + i:08d}", "n"), {"customer_name": "홍길동"}) for i in range(count)
    ]
    draft = CampaignDraft(
        name="bench",
        from_number=number,
        tasks=tasks,
        agent_id=agent_id,
        window=Windows((CallingWindow(start_min=0, end_min=1440),)),
        concurrency=args.concurrency,
        scheduled_at=SystemClock().now_ms() + 86_400_000 if waiting else None,
    )
    started = time.perf_counter()
    CampaignService(db, SystemClock().now_ms).create(org_id, draft)
    return time.perf_counter() - started


def arrivals(db: Database, worker: Worker, args: argparse.Namespace, org: tuple[str, str, str]) -> None:
    org_id, agent_id, number = org
    service = CallService(db, SystemClock().now_ms, on_created=worker.wake)
    start = time.perf_counter()
    for i in range(args.calls):
        delay = start + i / args.rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        service.create(
            org_id,
            NewCall(
                from_number=number,
                to_number=parse_kr(f"010{20_000_000 + i:08d}", "n"),
                agent_id=agent_id,
                dynamic_variables={"customer_name": "홍길동"},
            ),
        )


async def measure(db: Database, args: argparse.Namespace, org: tuple[str, str, str]) -> dict[str, Any]:
    clock = SystemClock()
    conductor = WaitingConductor(clock, args.call_s)
    config = WorkerConfig(capacity=args.capacity, poll_interval_s=0.2, run_relay=False)
    worker = Worker(db, conductor, clock=clock, config=config)
    passes: list[float] = []
    original = dispatcher.dispatch

    def timed(*a: Any, **k: Any) -> dispatcher.PassResult:
        t = time.perf_counter()
        result = original(*a, **k)
        if result.claimed:
            passes.append((time.perf_counter() - t) * 1000)
        return result

    dispatcher.dispatch = timed  # type: ignore[assignment]
    try:
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0)
        thread = threading.Thread(target=arrivals, args=(db, worker, args, org))
        thread.start()
        await asyncio.to_thread(thread.join)
        await asyncio.sleep(args.call_s + 2)  # the last ordinary calls are claimed and run
        worker.stop()
        await task
    finally:
        dispatcher.dispatch = original  # type: ignore[assignment]
    with db.read() as conn:
        rows = conn.execute(
            select(calls.c.id, calls.c.created_at, calls.c.start_at).where(calls.c.organization_id == org[0])
        ).all()
    queue_ms = [r.start_at - r.created_at for r in rows if r.start_at is not None]
    dial_ms = [conductor.dial_at[r.id] - r.start_at for r in rows if r.id in conductor.dial_at and r.start_at]
    return {
        "claimed": len(queue_ms),
        "queue_to_claim": (statistics.median(queue_ms), pct(queue_ms, 95)),
        "claim_to_dial": (statistics.median(dial_ms), pct(dial_ms, 95)),
        "pass_ms": (statistics.median(passes), pct(passes, 95)),
        "campaign_calls": len(conductor.dial_at) - len(dial_ms),
    }


def reset(db: Database) -> None:
    with db.write() as conn:
        for table in reversed(metadata.sorted_tables):
            if db.is_postgres or table.name != "server_secrets":
                if table.name == "call_meta" and db.is_postgres:
                    continue
                conn.execute(text(f"DELETE FROM {table.name}"))


def scenario(db: Database, args: argparse.Namespace, tasks: int, waiting: bool) -> dict[str, Any]:
    reset(db)
    load_s = load_campaign(db, args, tasks, waiting) if tasks else None
    org = organisation(db, "ordinary org", 1)
    result = asyncio.run(measure(db, args, org))
    result["load_s"] = load_s
    return result


def report(name: str, r: dict[str, Any]) -> None:
    q, d, p = r["queue_to_claim"], r["claim_to_dial"], r["pass_ms"]
    print(f"{name}: {r['claimed']} ordinary calls claimed; campaign calls meanwhile: {r['campaign_calls']}")
    if r["load_s"] is not None:
        print(f"  campaign tasks loaded in {r['load_s']:.2f} s")
    print(f"  queue-to-claim p50 {q[0]:.0f} ms, p95 {q[1]:.0f} ms")
    print(f"  claim-to-dial  p50 {d[0]:.2f} ms, p95 {d[1]:.2f} ms")
    print(f"  claim pass     p50 {p[0]:.2f} ms, p95 {p[1]:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000, help="tasks of the small running campaign")
    parser.add_argument("--concurrency", type=int, default=100, help="the campaign's")
    parser.add_argument("--calls", type=int, default=500, help="ordinary calls")
    parser.add_argument("--rate", type=float, default=50.0, help="ordinary calls created per second")
    parser.add_argument("--call-s", type=float, default=2.0, help="how long each call lasts")
    parser.add_argument("--capacity", type=int, default=500, help="the worker's live-call capacity")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.database_url or f"sqlite:///{tmp}/bench.db", pool_size=20)
        upgrade(db)
        print(f"database: {db.dialect}; {args.calls} ordinary calls at {args.rate}/s, {args.call_s} s each")
        # Pending: loaded, scheduled for tomorrow (the size alone). Running: its calls share the
        # worker and the database with the ordinary ones; the small campaign at the same
        # concurrency shows what that costs whatever the campaign's size.
        results = {
            "without a campaign": scenario(db, args, 0, waiting=False),
            f"with a {args.tasks:,}-task campaign pending": scenario(db, args, args.tasks, waiting=True),
            f"with a {args.tasks:,}-task campaign running at concurrency {args.concurrency}": scenario(
                db, args, args.tasks, waiting=False
            ),
            f"with a {args.small:,}-task campaign running at concurrency {args.concurrency}": scenario(
                db, args, args.small, waiting=False
            ),
        }
        db.dispose()
    base = results["without a campaign"]
    for name, result in results.items():
        report(name, result)
        for label, key in (("queue-to-claim", "queue_to_claim"), ("claim-to-dial", "claim_to_dial")):
            a, b = base[key], result[key]
            if a[0] and a[1]:
                print(f"  ratio to without, {label}: p50 {b[0] / a[0]:.2f}x, p95 {b[1] / a[1]:.2f}x")
    print(f"uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
