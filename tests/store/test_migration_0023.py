"""Migration 0023: `ix_calls_agent` carries `status` and `start_at`, so an agent + status + range
count is read from it alone; down and up again, on both databases."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from callplane.domain.call import CallStatus
from callplane.domain.ids import new_id
from callplane.domain.query import CallQuery, CountMode, Range
from callplane.store import listing
from callplane.store.db import Database
from callplane.store.migrate import downgrade, upgrade
from tests.factories import insert_calls, make_tenant, random_call

START = 1_767_225_600_000
KEY = ["organization_id", "agent_id", "listed_at", "id"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An unmigrated database of the test's own."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'callplane.db'}")
    else:
        db = Database(request.getfixturevalue("empty_postgres_url"))
    yield db
    db.dispose()


def agent_index(conn: Connection) -> tuple[list[str], list[str]]:
    """`ix_calls_agent`'s key columns and the columns it carries outside its key."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text("PRAGMA index_xinfo(ix_calls_agent)")).all()
        # Key columns (`key` = 1), then the rowid SQLite appends (`cid` = -1).
        return [r.name for r in rows if r.key], []
    rows = conn.execute(
        text(
            "SELECT a.attname, k.n <= i.indnkeyatts AS key FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " WHERE i.indexrelid = 'ix_calls_agent'::regclass ORDER BY k.n"
        )
    ).all()
    return [r.attname for r in rows if r.key], [r.attname for r in rows if not r.key]


def count_plan(conn: Connection, organization_id: str, agent_id: str) -> str:
    where = (
        f"organization_id = '{organization_id}' AND agent_id = '{agent_id}' AND status = 'ended'"
        f" AND listed_at >= {START} AND start_at IS NOT NULL"
    )
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text(f"EXPLAIN QUERY PLAN SELECT count(*) FROM calls WHERE {where}")).all()
        return " ".join(r[-1] for r in rows)
    # A few rows: without these the planner reads the table, whatever the indexes.
    conn.execute(text("VACUUM ANALYZE calls"))
    conn.execute(text("SET enable_seqscan = off"))
    conn.execute(text("SET enable_bitmapscan = off"))
    try:
        return " ".join(
            r[0] for r in conn.execute(text(f"EXPLAIN SELECT count(*) FROM calls WHERE {where}")).all()
        )
    finally:
        conn.execute(text("RESET enable_seqscan"))
        conn.execute(text("RESET enable_bitmapscan"))


def test_the_agent_index_carries_status_and_start_time_down_and_up(fresh: Database) -> None:
    db = fresh
    upgrade(db)
    tenant = make_tenant(db, START - 86_400_000)
    rng = random.Random(23)
    # Four agents: the count reads one agent's calls, a quarter of the range.
    agents = [tenant.agent_id, *(new_id() for _ in range(3))]
    made = [random_call(rng, tenant.organization_id, agents, start_at=START + i) for i in range(200)]
    insert_calls(db, made)
    q = CallQuery(
        tenant.organization_id,
        agent_ids=(tenant.agent_id,),
        statuses=(CallStatus.ENDED,),
        start_at=Range(START, None),
        count=CountMode.EXACT,
        limit=5,
    )
    expected = sum(
        1 for c in made if c.agent.agent_id == tenant.agent_id and c.status is CallStatus.ENDED and c.start_at
    )
    assert expected > 5
    sqlite = db.is_sqlite
    # SQLite has no INCLUDE: the two columns follow the key.
    covered = ([*KEY, "status", "start_at"], []) if sqlite else (KEY, ["status", "start_at"])
    with db.read() as conn:
        assert agent_index(conn) == covered
        plan = count_plan(conn, tenant.organization_id, tenant.agent_id)
        total = listing.list_calls(conn, q).total
    assert ("COVERING INDEX ix_calls_agent " if sqlite else "Index Only Scan using ix_calls_agent ") in plan
    assert total == listing.Total(expected, exact=True)

    downgrade(db, "0022")
    with db.read() as conn:
        assert agent_index(conn) == (KEY, [])
        assert listing.list_calls(conn, q).total == listing.Total(expected, exact=True)
    upgrade(db)
    with db.read() as conn:
        assert agent_index(conn) == covered
        assert listing.list_calls(conn, q).total == listing.Total(expected, exact=True)
