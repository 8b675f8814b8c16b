"""The reaper works in small transactions and says "reaped" only for what it committed."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import event

from callplane.domain.call import CallStatus
from callplane.engine.clock import FixedClock
from callplane.engine.jobs import reaper
from callplane.engine.jobs.dispatcher import dispatch
from callplane.engine.services.admin import Admin
from callplane.store.db import Database
from tests.engine.jobs.test_worker import load
from tests.engine.scripted import create_calls
from tests.factories import Tenant


def test_a_pass_ends_expired_calls_in_batches_each_committed_before_it_is_logged(
    db: Database, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock(1_800_000_000_000)
    Admin(db, clock.now_ms).update_organization(tenant.organization_id, {"max_concurrent_calls": 50})
    ids = create_calls(db, clock, tenant, 25)
    claimed = dispatch(db, owner="ghost", now=clock.now_ms(), capacity=50, lease_ms=1_000, scan_limit=50)
    assert len(claimed.claimed) == 25
    commits: list[int] = []
    logged_at_commit: list[int] = []

    def on_commit(_conn: Any) -> None:
        commits.append(1)
        logged_at_commit.append(sum("reaped call" in r.getMessage() for r in caplog.records))

    event.listen(db.engine, "commit", on_commit)
    try:
        with caplog.at_level(logging.WARNING, logger="callplane.engine.jobs.reaper"):
            assert reaper.reap(db, clock.now_ms() + 2_000) == 25
    finally:
        event.remove(db.engine, "commit", on_commit)
    assert len(commits) == 3  # 10 + 10 + 5, each its own transaction
    # When a batch commits, only the batches before it have been logged.
    assert logged_at_commit == [0, 10, 20]
    assert sum("reaped call" in r.getMessage() for r in caplog.records) == 25
    assert {c.status for c in load(db, tenant, ids)} == {CallStatus.ERROR}
