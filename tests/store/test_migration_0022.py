"""Migration 0022 on PostgreSQL: `call_meta`'s backfill from `calls.metadata` holds exactly the rows
`insert_calls` writes, for every JSON type; the count follows a claim's new list position."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import text

from callplane.domain.call import CallStatus
from callplane.domain.query import CallQuery, CountMode, Range
from callplane.engine.clock import FixedClock
from callplane.store import listing, queue
from callplane.store.db import Database
from callplane.store.migrate import downgrade, upgrade
from tests.factories import insert_calls, make_tenant, random_call

pytestmark = pytest.mark.postgres

#: Every JSON type a metadata value can have; only scalars are indexed (filters compare scalars).
METADATA: list[dict[str, Any]] = [
    {"campaign": "재약정 캠페인", "n": 7, "big": 9_007_199_254_740_993, "neg": -42, "f": 1.5},
    {"campaign": "spring", "f": 3.0, "tiny": 1e-7, "half": -0.25, "yes": True, "no": False},
    {"none": None, "nested": {"a": [1, "b"]}, "list": [1, 2], "campaign": "재약정 캠페인"},
    {"esc": 'quote " back \\ nl \n tab \t ctl \x01 del \x7f /', "emoji": "📞", "empty": ""},
    {"k" * 201: "too long a key", "ok": "x" * 500, "int_text": "12", "n": 12},
    {},
]

ROWS = "SELECT organization_id, key, value, listed_at, call_id FROM call_meta ORDER BY 1, 2, 3, 4, 5"


def test_the_backfill_holds_what_insert_calls_writes_for_every_json_type(empty_postgres_url: str) -> None:
    db = Database(empty_postgres_url)
    try:
        upgrade(db)
        tenant = make_tenant(db, 1_700_000_000_000)
        rng = random.Random(22)
        made = [
            replace(
                random_call(rng, tenant.organization_id, [tenant.agent_id], start_at=1_767_225_600_000 + i),
                metadata=meta,
            )
            for i, meta in enumerate(METADATA * 3)
        ]
        insert_calls(db, made)
        with db.read() as conn:
            written = conn.execute(text(ROWS)).all()
        # 3 x (5 + 6 + 1 + 3 + 3 + 0) scalar values under keys of at most 200 characters.
        assert len(written) == 54
        assert ("campaign", '"재약정 캠페인"') in {(r.key, r.value) for r in written}
        downgrade(db, "0021")
        with db.read() as conn:
            assert conn.execute(text("SELECT to_regclass('call_meta')")).scalar_one() is None
        upgrade(db)
        with db.read() as conn:
            assert conn.execute(text(ROWS)).all() == written
            gin = conn.execute(text("SELECT to_regclass('ix_calls_metadata')")).scalar_one()
        assert gin is None
        q = CallQuery(
            tenant.organization_id, metadata=(("campaign", "재약정 캠페인"),), count=CountMode.EXACT
        )
        with db.read() as conn:
            page = listing.list_calls(conn, q)
        assert page.total is not None and page.total.value == 6 and len(page.calls) == 6
    finally:
        db.dispose()


def test_a_claim_moves_the_side_rows_and_the_counts_follow(db: Database) -> None:
    clock = FixedClock(1_700_000_000_000)
    tenant = make_tenant(db, clock.now_ms())
    rng = random.Random(7)
    queued = [
        replace(
            random_call(rng, tenant.organization_id, [tenant.agent_id], start_at=None),
            status=CallStatus.QUEUED,
            created_at=clock.now_ms() - 1_000,
            due_at=clock.now_ms() - 1,
            metadata={"campaign": "fall", "tier": 2, "vip": True},
        )
        for _ in range(4)
    ]
    insert_calls(db, queued)
    fall = (("campaign", "fall"),)
    later = Range(low=clock.now_ms() + 1_000)

    def total(**filters: Any) -> int:
        with db.read() as conn:
            found = listing.list_calls(
                conn, CallQuery(tenant.organization_id, count=CountMode.EXACT, **filters)
            )
        assert found.total is not None
        return found.total.value

    assert total(metadata=fall) == 4 and total(metadata=fall, listed_at=later) == 0
    clock.advance(5_000)
    with db.write() as conn:
        claimed = queue.start_dialing(conn, queued[:2], owner="w1", now=clock.now_ms(), lease_ms=60_000)
        assert set(claimed) == {c.id for c in queued[:2]}
    assert total(metadata=fall) == 4
    assert total(metadata=fall, listed_at=later) == 2
    assert total(metadata=(("tier", 2),), listed_at=later) == 2
    assert total(metadata=(("vip", True), ("tier", 2)), listed_at=later) == 2
    with db.read() as conn:
        moved = conn.execute(
            text("SELECT count(*) FROM call_meta WHERE listed_at = :t"), {"t": clock.now_ms()}
        )
        assert moved.scalar_one() == 6
