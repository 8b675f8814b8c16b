"""The store's routes (index-driven or walking) return the same calls as a brute-force scan.

`listing.route` lets a rare metadata value (SQLite) or a rare search (both databases) drive a
query through its index; these tests pin each route in turn and replay the brute-force list
checks of test_listing.py through it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event

from callplane.domain.call import Call
from callplane.domain.query import CallQuery, CountMode
from callplane.store import listing, search
from callplane.store.db import Database, DatabaseSetupError, check_postgres
from tests.factories import insert_calls, random_call
from tests.store.test_listing import BASE, brute_force, corpus, page_through, random_query

__all__ = ["corpus"]  # the fixture, shared with test_listing.py


@pytest.mark.parametrize("drive_max", [-1, 10**9], ids=["walk", "drive"])
@pytest.mark.parametrize(
    ("index_max", "filter_max"),
    [(-1, -1), (-1, 10**9), (10**9, -1)],
    ids=["search-walk", "search-filter-walk", "search-index"],
)
def test_routes_match_brute_force(
    db: Database,
    corpus: tuple[str, list[Call]],
    monkeypatch: pytest.MonkeyPatch,
    drive_max: int,
    index_max: int,
    filter_max: int,
) -> None:
    monkeypatch.setattr(listing, "DRIVE_MAX", drive_max)
    monkeypatch.setattr(search, "INDEX_MAX_CANDIDATES", index_max)
    monkeypatch.setattr(search, "FILTER_MAX_CANDIDATES", filter_max)  # SQLite only
    monkeypatch.setattr(listing, "SAMPLE_MATCHES", 0 if index_max < 0 else 10**9)
    org, found = corpus
    rng = random.Random(23)
    driven = 0
    for _ in range(60):
        q = random_query(rng, org, found)
        if rng.random() < 0.5:
            q = replace(q, metadata=rng.choice([(("customer_id", 7),), (("campaign", "fall"),)]))
        with db.read() as conn:
            driven += listing.route(conn, q).driven(conn.dialect.name)
        expected = brute_force(found, q)
        assert page_through(db, q) == expected, q
        with db.read() as conn:
            total = listing.list_calls(conn, replace(q, count=CountMode.EXACT)).total
        assert total is not None and total.exact and total.value == len(expected), q
    if db.is_sqlite and (drive_max > 0 or index_max > 0):
        assert driven > 3


def test_a_rare_metadata_value_drives_sqlite_and_a_common_one_walks(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(3)
    org = "org-1"
    found = [random_call(rng, org, ["a"], start_at=BASE + i) for i in range(40)]
    insert_calls(sqlite_db, found)
    monkeypatch.setattr(listing, "DRIVE_MAX", 5)
    with sqlite_db.read() as conn:
        rare = listing.route(conn, CallQuery(organization_id=org, metadata=(("customer_id", 7),)))
        common = listing.route(conn, CallQuery(organization_id=org, metadata=(("campaign", "fall"),)))
    assert sum(c.metadata["customer_id"] == 7 for c in found) <= 5
    assert sum(c.metadata["campaign"] == "fall" for c in found) > 5
    assert rare.metadata_driver == 0 and rare.driven("sqlite")
    assert common.metadata_driver is None and not common.driven("sqlite")


@pytest.mark.parametrize("with_transcript", [False, True])
def test_list_pages_read_transcripts_only_when_asked(
    db: Database, corpus: tuple[str, list[Call]], with_transcript: bool
) -> None:
    org, _ = corpus
    statements: list[str] = []
    fetched: set[str] = set()

    def seen(_c: object, cursor: Any, statement: str, *_: object) -> None:
        statements.append(statement)
        fetched.update(d[0] for d in cursor.description or ())

    event.listen(db.engine, "after_cursor_execute", seen)
    try:
        for search_for in (None, "예약", "없는말"):
            q = CallQuery(
                organization_id=org,
                search=search_for,
                include_transcript=with_transcript,
                count=CountMode.EXACT,
            )
            with db.read() as conn:
                page = listing.list_calls(conn, q)
            assert all(c.transcript_loaded is with_transcript for c in page.calls)
    finally:
        event.remove(db.engine, "after_cursor_execute", seen)
    assert ("transcript" in fetched) is with_transcript
    assert "metadata" in fetched  # the capture works
    # The search text is only ever tested, never fetched.
    assert "search_text" not in fetched and statements


@pytest.mark.postgres
def test_postgres_setup_check_refuses_generic_plans(postgres_db: Database) -> None:
    with postgres_db.write() as conn:
        check_postgres(conn)  # the store's own connections pass
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = auto")  # gone when the transaction ends
        with pytest.raises(DatabaseSetupError, match="plan_cache_mode"):
            check_postgres(conn)


@pytest.mark.parametrize("db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("with_transcript", [False, True])
def test_postgres_never_offers_an_index_of_the_tenant_beside_the_gram_index(
    db: Database, corpus: tuple[str, list[Call]], monkeypatch: pytest.MonkeyPatch, with_transcript: bool
) -> None:
    # The tenant is among the GIN's terms; an indexable tenant condition beside it let the planner
    # AND a whole tenant's b-tree range into the bitmap (1M calls: 36 ms for a 300-call word).
    monkeypatch.setattr(listing, "SAMPLE_MATCHES", 10**9)  # every search through the index
    org, found = corpus
    through_index: list[str] = []

    def seen(_c: object, _cursor: Any, statement: str, *_: object) -> None:
        if "@@" in statement:
            through_index.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        for search_for in ("예약", "help SUPPORT", "배"):
            q = CallQuery(organization_id=org, search=search_for, include_transcript=with_transcript)
            with db.read() as conn:
                assert [c.id for c in listing.list_calls(conn, q).calls] == brute_force(found, q)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert through_index
    for statement in through_index:
        gin_part = statement.split("@@")[0].rsplit("SELECT", 1)[-1]
        assert "(calls.organization_id || '')" in gin_part, statement
        assert "calls.organization_id = " not in gin_part, statement
