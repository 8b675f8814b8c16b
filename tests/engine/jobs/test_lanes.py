"""The lanes' group commit: steps queued together share one transaction, each gets its own
result, and a failing step costs the others nothing. Real databases, both dialects."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, update

from callplane.engine.jobs.lanes import Lanes
from callplane.store.db import Database
from callplane.store.schema import organizations
from tests.factories import make_tenant


def rename(org_id: str, name: str, *, fail: bool = False) -> Any:
    def step(conn: Connection) -> str:
        conn.execute(update(organizations).where(organizations.c.id == org_id).values(name=name))
        if fail:
            raise ValueError(f"step {name} failed")
        return name

    return step


def names(db: Database, org_ids: list[str]) -> list[str]:
    with db.read() as conn:
        found = {r.id: r.name for r in conn.execute(select(organizations.c.id, organizations.c.name))}
    return [found[o] for o in org_ids]


async def queued_behind_a_busy_lane(lanes: Lanes, steps: list[tuple[str, Any]]) -> list[Any]:
    """Run `steps` through `lanes.write` while its only lane is busy, so they queue together."""
    busy, release = threading.Event(), threading.Event()

    def hold() -> None:
        busy.set()
        release.wait(10)

    holding = asyncio.ensure_future(lanes.run(hold))
    await asyncio.to_thread(busy.wait, 10)
    writes = [asyncio.ensure_future(lanes.write(work, key)) for key, work in steps]
    await asyncio.sleep(0.05)  # every write is queued
    release.set()
    await holding
    return await asyncio.gather(*writes, return_exceptions=True)


def test_steps_queued_together_commit_once_each_with_its_own_result(db: Database) -> None:
    orgs = [make_tenant(db, 0, name=f"org {i}").organization_id for i in range(3)]
    commits: Counter[str] = Counter()
    event.listen(db.engine, "commit", lambda _conn: commits.update(["commit"]))
    lanes = Lanes(1, db)
    try:
        steps = [(org_id, rename(org_id, f"renamed {i}")) for i, org_id in enumerate(orgs)]
        results = asyncio.run(queued_behind_a_busy_lane(lanes, steps))
    finally:
        lanes.close()
    assert results == ["renamed 0", "renamed 1", "renamed 2"]
    assert commits["commit"] == 1
    assert names(db, orgs) == ["renamed 0", "renamed 1", "renamed 2"]


def test_a_failing_step_fails_alone_and_the_others_commit(db: Database) -> None:
    orgs = [make_tenant(db, 0, name=f"org {i}").organization_id for i in range(3)]
    lanes = Lanes(1, db)
    try:
        steps = [
            (orgs[0], rename(orgs[0], "a")),
            (orgs[1], rename(orgs[1], "b", fail=True)),
            (orgs[2], rename(orgs[2], "c")),
        ]
        results = asyncio.run(queued_behind_a_busy_lane(lanes, steps))
    finally:
        lanes.close()
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], ValueError)
    assert names(db, orgs) == ["a", "org 1", "c"]  # the failed step's change was rolled back


def test_a_group_runs_its_steps_in_the_order_of_their_keys(db: Database) -> None:
    org_id = make_tenant(db, 0).organization_id
    order: list[str] = []

    def step(key: str) -> Any:
        def work(conn: Connection) -> None:
            order.append(key)
            conn.execute(update(organizations).where(organizations.c.id == org_id).values(name=key))

        return work

    lanes = Lanes(1, db)
    try:
        asyncio.run(queued_behind_a_busy_lane(lanes, [(k, step(k)) for k in ("c", "a", "b")]))
    finally:
        lanes.close()
    assert order == ["a", "b", "c"]


def test_write_needs_the_database() -> None:
    lanes = Lanes(1)
    try:
        with pytest.raises(AssertionError):
            asyncio.run(lanes.write(lambda conn: None, "k"))
    finally:
        lanes.close()
