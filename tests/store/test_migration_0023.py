"""Migration 0023: `ix_calls_agent` carries `status` and `start_at`, `ix_calls_duration` carries
`listed_at`, so an agent + status + range count and a duration page's keys are read from the index
alone; the lists answer the same; down and up again, on both databases."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from callplane.domain.call import Call, CallStatus
from callplane.domain.ids import new_id
from callplane.domain.query import CallQuery, CountMode, Range
from callplane.store import listing
from callplane.store.db import Database
from callplane.store.migrate import downgrade, upgrade
from tests.factories import insert_calls, make_tenant, random_call

START = 1_767_225_600_000
#: name: (key, carried after upgrade)
INDEXES = {
    "ix_calls_agent": (["organization_id", "agent_id", "listed_at", "id"], ["status", "start_at"]),
    "ix_calls_duration": (["organization_id", "duration_ms", "id"], ["listed_at"]),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An unmigrated database of the test's own."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'callplane.db'}")
    else:
        db = Database(request.getfixturevalue("empty_postgres_url"))
    yield db
    db.dispose()


def columns(conn: Connection, name: str) -> tuple[list[str], list[str]]:
    """An index's key columns and the columns it carries outside its key (PostgreSQL's INCLUDE)."""
    if conn.dialect.name == "sqlite":
        rows = conn.execute(text(f"PRAGMA index_xinfo({name})")).all()
        # Key columns (`key` = 1), then the rowid SQLite appends.
        return [r.name for r in rows if r.key], []
    rows = conn.execute(
        text(
            "SELECT a.attname, k.n <= i.indnkeyatts AS key FROM pg_index i"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            f" WHERE i.indexrelid = '{name}'::regclass ORDER BY k.n"
        )
    ).all()
    return [r.attname for r in rows if r.key], [r.attname for r in rows if not r.key]


def upgraded(sqlite: bool) -> dict[str, tuple[list[str], list[str]]]:
    # SQLite has no INCLUDE: the carried columns follow the key.
    return {n: ([*k, *c], []) if sqlite else (k, c) for n, (k, c) in INDEXES.items()}


def plan(conn: Connection, sql: str) -> str:
    if conn.dialect.name == "sqlite":
        return " ".join(r[-1] for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")).all())
    # A few hundred rows: without these the planner reads the table, whatever the indexes.
    conn.execute(text("VACUUM ANALYZE calls"))
    off = ("enable_seqscan", "enable_bitmapscan")
    for setting in off:
        conn.execute(text(f"SET {setting} = off"))
    try:
        return " ".join(r[0] for r in conn.execute(text(f"EXPLAIN {sql}")).all())
    finally:
        for setting in off:
            conn.execute(text(f"RESET {setting}"))


def test_two_indexes_carry_what_their_lists_read_down_and_up(fresh: Database) -> None:
    db = fresh
    upgrade(db)
    tenant = make_tenant(db, START - 86_400_000)
    org = tenant.organization_id
    rng = random.Random(23)
    # Four agents: the count reads one agent's calls, a quarter of the range.
    agents = [tenant.agent_id, *(new_id() for _ in range(3))]
    made = [random_call(rng, org, agents, start_at=START + i * 7 % 200) for i in range(200)]
    insert_calls(db, made)
    by_agent = CallQuery(
        org,
        agent_ids=(tenant.agent_id,),
        statuses=(CallStatus.ENDED,),
        start_at=Range(START, None),
        count=CountMode.EXACT,
        limit=5,
    )
    ended = [c for c in made if c.agent.agent_id == tenant.agent_id and c.status is CallStatus.ENDED]
    by_duration = CallQuery(org, duration_ms=Range(30_000, 95_000), include_transcript=True, limit=5)

    def newest(c: Call) -> tuple[int, str]:
        return (c.start_at if c.start_at is not None else c.created_at, c.id)

    in_range = [c for c in made if c.duration_ms is not None and 30_000 <= c.duration_ms <= 95_000]
    expected_ids = [c.id for c in sorted(in_range, key=newest, reverse=True)[:5]]
    assert len(ended) > 5 and len(in_range) > 5

    def check() -> None:
        with db.read() as conn:
            assert listing.list_calls(conn, by_agent).total == listing.Total(len(ended), exact=True)
            page = listing.list_calls(conn, by_duration)
        assert [c.id for c in page.calls] == expected_ids
        assert all(c.transcript == next(m for m in made if m.id == c.id).transcript for c in page.calls)

    sqlite = db.is_sqlite
    with db.read() as conn:
        assert {n: columns(conn, n) for n in INDEXES} == upgraded(sqlite)
        count = plan(
            conn,
            f"SELECT count(*) FROM calls WHERE organization_id = '{org}' AND agent_id = '{tenant.agent_id}'"
            f" AND status = 'ended' AND listed_at >= {START} AND start_at IS NOT NULL",
        )
        keys = plan(
            conn,
            # No limit: with one, a few hundred rows are as cheap to walk newest first.
            f"SELECT id FROM calls WHERE organization_id = '{org}' AND duration_ms >= 600000"
            " AND duration_ms <= 1200000 ORDER BY listed_at DESC, id DESC",
        )
    only = "COVERING INDEX {} " if sqlite else "Index Only Scan using {} "
    assert only.format("ix_calls_agent") in count
    assert only.format("ix_calls_duration") in keys
    check()

    downgrade(db, "0022")
    with db.read() as conn:
        assert {n: columns(conn, n) for n in INDEXES} == {n: (k, []) for n, (k, _) in INDEXES.items()}
    check()
    upgrade(db)
    with db.read() as conn:
        assert {n: columns(conn, n) for n in INDEXES} == upgraded(sqlite)
    check()
