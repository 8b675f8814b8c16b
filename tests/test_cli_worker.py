"""`callplane worker`'s worker closes what its conductor holds open when it stops."""

from __future__ import annotations

import asyncio

from callplane.cli.worker import build_worker
from callplane.config import Settings
from callplane.engine.live.conductor import LineConductor, Runtimes
from callplane.store.db import Database


def test_stopping_the_worker_closes_the_runtimes_http_clients(sqlite_db: Database) -> None:
    async def main() -> tuple[bool, bool]:
        worker = build_worker(sqlite_db, Settings(database_url=sqlite_db.url))
        assert isinstance(worker.conductor, LineConductor)
        runtimes = worker.conductor.runtimes.__self__  # type: ignore[attr-defined]
        assert isinstance(runtimes, Runtimes)
        trusted, guarded = runtimes.http, runtimes.guarded  # as the first LLM agent's call opens them
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.05)
        worker.stop()
        await asyncio.wait_for(task, 30)
        return trusted.is_closed, guarded.is_closed

    assert asyncio.run(main()) == (True, True)
