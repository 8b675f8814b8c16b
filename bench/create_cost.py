"""What one `POST /v3/calls` costs the API process: server CPU per create, p50 latency, creates/s.

    python -m bench.create_cost                       # a fresh SQLite file and a fresh PostgreSQL database
    python -m bench.create_cost --only sqlite --creates 2000
    python -m bench.create_cost --embedded-worker     # serve with its worker (it dials what is created)
    python -m bench.create_cost --processes 2 --clients 4   # two API processes, clients split between them

Each database is fresh and holds one organisation (calling window all day, one number, one
agent, one key), made through `engine.services.admin.Admin` as `bench.run` makes its ingest
organisation. `callplane serve` runs in a process of its own with `CALLPLANE_EMBEDDED_WORKER=false`
by default: the production shape (README, "Workers" and "Deployment": API processes without a
worker, workers apart), so the CPU counted is the create path's alone. With `--embedded-worker`
the same process also claims and dials every created call, and its CPU includes that work.

`--processes N` starts N `callplane serve` processes on one database (README "Deployment": many
API processes in production) and sends client i to process i mod N; the CPU is theirs summed.
The one-process figure is the headline: on this 2-core host two processes share the cores
with the database and the clients.

Server CPU is read from `/proc/<pid>/stat` (user + system, every thread) before and after the
measured creates, so it holds on a loaded host, where rates and latencies do not; the load
average is printed beside every figure.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.load import AGENT_FILE
from bench.run import SERVER_PIDS, cpu_s, server
from callplane.domain.phone import parse_kr
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from callplane.store.migrate import upgrade

NUMBER = "07099990000"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def prepare(url: str) -> dict[str, str]:
    """Migrate and make the organisation, its number, agent and key."""
    db = Database(url)
    try:
        upgrade(db)
        admin = Admin(db, lambda: int(time.time() * 1000))
        org = admin.create_organization("create bench", calling_window={"start": "00:00", "end": "24:00"})
        admin.add_number(org.id, parse_kr(NUMBER, "number"), "create bench")
        agent = admin.create_agent(org.id, AGENT_FILE)
        return {"agent_id": agent.id, "api_key": admin.issue_key(org.id, "create bench").key}
    finally:
        db.dispose()


def measure(
    bases: list[str], keys: dict[str, str], creates: int, warmup: int, clients: int, profile: Path | None
) -> dict[str, Any]:
    body = {
        "from_number": NUMBER,
        "to_number": "01012345678",
        "agent": {"agent_id": keys["agent_id"]},
        "metadata": {"customer_id": "C1", "campaign": "x"},
    }
    headers = {"Authorization": f"Bearer {keys['api_key']}"}
    failures: dict[str, int] = {}

    pids = [SERVER_PIDS[b] for b in bases]
    base, pid = bases[0], pids[0]

    def cpu() -> float:
        return sum(cpu_s(p) for p in pids)

    def run(n: int, sink: list[float], base: str = base) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for _ in range(n):
                started = time.perf_counter()
                r = client.post("/v3/calls", json=body, headers=headers)
                if r.status_code == 201:
                    sink.append((time.perf_counter() - started) * 1000)
                else:
                    failures[str(r.status_code)] = failures.get(str(r.status_code), 0) + 1

    for b in bases:
        run(warmup, [], b)
    # The floor of any request on this host now: the CPU of a GET /healthz (no database).
    with httpx.Client(base_url=base, timeout=60) as client:
        for _ in range(100):
            client.get("/healthz")
        floor_before = cpu_s(pid)
        for _ in range(500):
            client.get("/healthz")
        healthz_ms = (cpu_s(pid) - floor_before) * 1000 / 500
    sinks: list[list[float]] = [[] for _ in range(clients)]
    threads = [
        threading.Thread(target=run, args=(creates // clients, sink, bases[i % len(bases)]))
        for i, sink in enumerate(sinks)
    ]
    spy = None
    if profile is not None:
        # Collapsed stacks of the thread holding the GIL: where the Python CPU goes.
        spy = subprocess.Popen(
            [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(pid), "--format", "raw",
             "--rate", "250", "--gil", "--output", str(profile)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(1.0)  # attached
    load_before = loadavg()
    cpu_before = cpu()
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    spent = cpu() - cpu_before
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
    latencies = [x for sink in sinks for x in sink]
    return {
        "creates": len(latencies),
        "failed": failures,
        "per_s": len(latencies) / wall,
        "p50_ms": pct(latencies, 0.5),
        "p99_ms": pct(latencies, 0.99),
        "cpu_ms_per_create": spent * 1000 / max(1, len(latencies)),
        "healthz_cpu_ms": healthz_ms,
        "load": f"{load_before} -> {loadavg()}",
    }


@contextmanager
def fresh_postgres(base_url: str) -> Iterator[str]:
    name = f"callplane_create_{uuid.uuid4().hex[:8]}"
    parsed = make_url(base_url)
    admin_url = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE DATABASE {name} ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' "
            "TEMPLATE template0"
        )
    try:
        yield parsed.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def fresh_sqlite() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="callplane-create-") as tmp:
        yield f"sqlite:///{tmp}/create.db"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--creates", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--processes", type=int, default=1, help="API processes (clients split among them)")
    parser.add_argument("--embedded-worker", action="store_true", help="serve with its in-process worker")
    parser.add_argument("--profile", type=Path, help="py-spy the server while it creates: <this>-<db>.txt")
    args = parser.parse_args()
    kinds = [args.only] if args.only else ["sqlite", "postgres"]
    for kind in kinds:
        with fresh_sqlite() if kind == "sqlite" else fresh_postgres(args.pg) as url:
            keys = prepare(url)
            with ExitStack() as servers:
                bases = [
                    servers.enter_context(
                        server(url, Path(tempfile.gettempdir()) / f"create-cost-{kind}-{i}.log",
                               embedded_worker=args.embedded_worker)
                    )
                    for i in range(args.processes)
                ]  # fmt: skip
                profile = args.profile and args.profile.with_name(f"{args.profile.name}-{kind}.txt")
                result = measure(bases, keys, args.creates, args.warmup, args.clients, profile)
        worker = "embedded worker" if args.embedded_worker else "no worker"
        processes = f"{args.processes} API processes, " if args.processes > 1 else ""
        print(
            f"{kind:8} {processes}{worker}, {args.clients} client(s): {result['creates']} creates, "
            f"{result['per_s']:.0f}/s, p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
            f"server CPU {result['cpu_ms_per_create']:.2f} ms/create "
            f"({result['healthz_cpu_ms']:.2f} ms a /healthz), "
            f"load {result['load']}" + (f", failed {result['failed']}" if result["failed"] else ""),
            flush=True,
        )


if __name__ == "__main__":
    main()
