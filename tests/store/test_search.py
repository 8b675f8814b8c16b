"""Transcript search is exact on both databases, whichever path the store chooses.

Every query is compared with a brute-force scan (`domain.search.matches`) over the same calls,
through the index path, the walk path and the automatic choice, alone and with other filters,
paged with several page sizes and counted.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from callplane.domain.call import Call, CallStatus
from callplane.domain.ids import new_id
from callplane.domain.query import CallQuery, CountMode, Range, SortField, SortOrder
from callplane.domain.search import matches
from callplane.store import creating, listing, search
from callplane.store.db import Database
from callplane.store.migrate import _config
from tests.factories import ended_saying, insert_calls, random_call
from tests.store.test_listing import BASE, brute_force, page_through

PHRASES = [
    "예약 변경 부탁드려요",
    "예약을 취소하고 싶어요",
    "배송 확인 부탁드립니다",
    "누수가 있어요",
    "주문번호 A-12345 확인",
    "100% 환불_요청 드립니다",
    "It's O'Brien's \"quote\" here",
    "Refund please, REFUND!",
    "한글English혼합 text 예약",
    "Straße und STRASSE",
    "a_b%c 그리고 50%",
    "네",
    "...",
    "\u1100\u1161\u11a8 decomposed",  # 각, decomposed
    "예 약",
]
QUERIES = [
    # one character
    "예", "누", "a", "A", "%", "_", "'", "각", "네", ".", '"', "Z",
    # two
    "예약", "누수", "환불", "ab", "o'", "_요", "%c", "EN", "약을", "예 ", "'s",
    # three
    "주문번", "ref", "% 환", "예 약", "ss ", "a-1", "\"qu",
    # four and more
    "주문번호", "REFU", "예약 변", "strasse", "STRAßE", "o'brien", "한글eng", "없는말이다", "50%",
    "\u1100\u1161\u11a8",
]  # fmt: skip


def _transcript(rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"role": rng.choice(["agent", "user"]), "content": rng.choice(PHRASES), "start_at": 0, "end_at": 0}
        for _ in range(rng.randint(1, 3))
    ]


@pytest.fixture
def corpus(db: Database) -> tuple[str, list[Call]]:
    rng = random.Random(5)
    org, other = new_id(), new_id()
    agents = [new_id() for _ in range(2)]
    found: list[Call] = []
    for i in range(160):
        call = random_call(rng, org, agents, start_at=BASE + rng.choice([0, 0, 1000, 86_400_000]) + i)
        if call.status is CallStatus.ENDED:
            roll = rng.random()
            transcript = None if roll < 0.05 else [] if roll < 0.1 else _transcript(rng)
            call = replace(call, transcript=transcript)
        found.append(call)
    # Another tenant says the same things: its calls must never show up.
    for _ in range(60):
        call = random_call(rng, other, agents, start_at=BASE)
        found.append(ended_saying(call, _transcript(rng)))
    insert_calls(db, found)
    return org, found


def _text(call: Call) -> str:
    return "\n".join(e["content"] for e in call.transcript or [])


def _always_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every search goes through the gram index (any candidate count qualifies)."""
    # SQLite decides by its FTS5 candidate count, PostgreSQL by sampling the walk's first rows.
    monkeypatch.setattr(search, "INDEX_MAX_CANDIDATES", 10**9)
    monkeypatch.setattr(listing, "SAMPLE_MATCHES", 10**9)


@pytest.fixture(params=["index", "walk", "filter-walk", "auto"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Force the index path (any candidate count qualifies), the walk (SQLite: with the index's
    candidates as a filter, or without), or the default choice."""
    if request.param == "index":
        _always_index(monkeypatch)
    elif request.param in ("walk", "filter-walk"):
        monkeypatch.setattr(search, "INDEX_MAX_CANDIDATES", -1)
        monkeypatch.setattr(search, "FILTER_MAX_CANDIDATES", 10**9 if request.param == "filter-walk" else -1)
        monkeypatch.setattr(listing, "SAMPLE_MATCHES", 0)
    else:
        monkeypatch.setattr(search, "INDEX_MAX_CANDIDATES", 12)
        monkeypatch.setattr(search, "FILTER_MAX_CANDIDATES", 40)
        monkeypatch.setattr(listing, "SAMPLE_ROWS", 20)
        monkeypatch.setattr(listing, "SAMPLE_MATCHES", 3)
    return str(request.param)


def test_every_query_matches_a_brute_force_scan(
    db: Database, corpus: tuple[str, list[Call]], path: str
) -> None:
    org, found = corpus
    nonempty = 0
    for query in QUERIES:
        expected = [c.id for c in found if c.organization_id == org and _matches(query, c)]
        q = CallQuery(organization_id=org, search=query, limit=7, count=CountMode.EXACT)
        assert sorted(page_through(db, q)) == sorted(expected), query
        assert page_through(db, q) == brute_force(found, q), query
        with db.read() as conn:
            plan = listing.route(conn, q).search
            page = listing.list_calls(conn, q)
            # A page with transcripts (Vox v2, Retell, Vocode) reads its rows in two steps: the
            # same rows and total (PostgreSQL's windowed count once counted the page's rows alone).
            with_transcripts = listing.list_calls(conn, replace(q, include_transcript=True))
        total = page.total
        assert plan is not None and total is not None and with_transcripts.total == total, query
        assert [c.id for c in with_transcripts.calls] == [c.id for c in page.calls], query
        if plan.use_index or plan.gram_exact or plan.only_token or len(expected) <= q.limit:
            assert total.exact and total.value == len(expected), query
        else:
            # A common search is counted by its index candidates: an upper bound, flagged.
            assert not total.exact and total.value >= len(expected), query
        nonempty += bool(expected)
    assert nonempty >= 30  # most queries do find something


def _matches(query: str, call: Call) -> bool:
    return matches(query, _text(call))


def test_search_with_other_filters_sorts_and_page_sizes(
    db: Database, corpus: tuple[str, list[Call]], path: str
) -> None:
    org, found = corpus
    rng = random.Random(9)
    agents = sorted({c.agent.agent_id for c in found})
    for _ in range(40):
        options: dict[str, Any] = {}
        if rng.random() < 0.5:
            options["statuses"] = (CallStatus.ENDED,)
        if rng.random() < 0.4:
            options["start_at"] = Range(BASE + 500, None)
        if rng.random() < 0.4:
            options["agent_ids"] = (rng.choice(agents),)
        if rng.random() < 0.3:
            options["metadata"] = (("campaign", "spring"),)
        q = CallQuery(
            organization_id=org,
            search=rng.choice(QUERIES),
            sort=rng.choice([SortField.START, SortField.END, SortField.DURATION]),
            order=rng.choice(list(SortOrder)),
            limit=rng.choice([1, 3, 50]),
            **options,
        )
        expected = brute_force(found, q)
        assert page_through(db, q) == expected, q
        with db.read() as conn:
            total = listing.list_calls(conn, replace(q, count=CountMode.EXACT)).total
        assert total is not None and total.exact and total.value == len(expected), q


def test_the_plan_follows_the_tenants_candidate_count(
    db: Database, corpus: tuple[str, list[Call]], monkeypatch: pytest.MonkeyPatch
) -> None:
    org, found = corpus
    monkeypatch.setattr(search, "INDEX_MAX_CANDIDATES", 3)
    monkeypatch.setattr(search, "FILTER_MAX_CANDIDATES", 3)
    mine = [c for c in found if c.organization_id == org]
    with db.read() as conn:
        common = search.plan(conn, org, "예약")
        rare = search.plan(conn, org, "없는말")
        punctuation = search.plan(conn, org, "%")
        assert search.plan(conn, org, "") is None
    assert sum(_matches("예약", c) for c in mine) > 3
    assert common is not None and not common.use_index and common.gram_exact
    assert rare is not None and rare.use_index and rare.candidates == 0 and not rare.gram_exact
    assert punctuation is not None and not punctuation.use_index and punctuation.only_token
    assert not common.filter_walk and not rare.filter_walk and not punctuation.filter_walk
    monkeypatch.setattr(search, "FILTER_MAX_CANDIDATES", 10**9)
    with db.read() as conn:
        medium = search.plan(conn, org, "예약")
    assert medium is not None and not medium.use_index and medium.filter_walk == db.is_sqlite


def test_reindexing_a_transcript_forgets_the_old_words(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _always_index(monkeypatch)
    rng = random.Random(1)
    org = new_id()
    call = ended_saying(
        random_call(rng, org, [new_id()], start_at=BASE), [{"role": "user", "content": "누수가 있어요"}]
    )
    insert_calls(db, [call])

    def ids(query: str) -> list[str]:
        with db.read() as conn:
            return [
                c.id for c in listing.list_calls(conn, CallQuery(organization_id=org, search=query)).calls
            ]

    assert ids("누수") == [call.id]
    with db.write() as conn:
        search.index_transcript(conn, org, call.id, [{"role": "agent", "content": "배송 완료"}])
    # "누수" is answered by its gram alone (no recheck): a stale gram would show here.
    assert ids("누수") == []
    assert ids("배송") == [call.id]
    with db.write() as conn:
        search.index_transcript(conn, org, call.id, None)
    assert ids("배송") == []
    assert ids("%") == []


def test_the_migration_indexes_calls_stored_before_it(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _always_index(monkeypatch)
    rng = random.Random(2)
    org = new_id()
    found = [
        ended_saying(random_call(rng, org, [new_id()], start_at=BASE + i), [{"role": "user", "content": p}])
        for i, p in enumerate(PHRASES)
    ]
    insert_calls(db, found)
    before = ScriptDirectory.from_config(_config()).get_revision("0003").down_revision
    assert isinstance(before, str)
    config = _config()
    with db.write() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, before)
    with db.write() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    for query in ("예약", "누수", "각", "%", "refund", "o'b"):
        q = CallQuery(organization_id=org, search=query, limit=100)
        with db.read() as conn:
            plan = listing.route(conn, q).search
            got = [c.id for c in listing.list_calls(conn, q).calls]
        assert plan is not None and (plan.use_index or plan.only_token)
        assert got == brute_force(found, q), query


def test_bulk_insert_indexes_like_single_inserts(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    _always_index(monkeypatch)
    rng = random.Random(4)
    org = new_id()
    found = [
        ended_saying(random_call(rng, org, [new_id()], start_at=BASE + i), _transcript(rng))
        for i in range(30)
    ]
    with db.write() as conn:
        creating.insert_calls(conn, found[:20])
        for call in found[20:]:
            creating.insert_call(conn, call)
    for query in ("예약", "누", "환불_", "REFUND"):
        q = CallQuery(organization_id=org, search=query, limit=100)
        with db.read() as conn:
            assert [c.id for c in listing.list_calls(conn, q).calls] == brute_force(found, q)


@pytest.mark.postgres
def test_postgres_sessions_never_prepare_and_plan_each_search_afresh(postgres_db: Database) -> None:
    org = new_id()
    with postgres_db.read() as conn:
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "force_custom_plan"
        for query in ["예약", "누수", "주문번호"] * 4:
            listing.list_calls(conn, CallQuery(organization_id=org, search=query, count=CountMode.EXACT))
        assert conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar_one() == 0


def test_the_route_walks_for_common_words_and_indexes_rare_ones(
    db: Database, corpus: tuple[str, list[Call]], monkeypatch: pytest.MonkeyPatch
) -> None:
    org, found = corpus
    monkeypatch.setattr(search, "INDEX_MAX_CANDIDATES", 3)  # SQLite: by candidate count
    monkeypatch.setattr(listing, "SAMPLE_ROWS", 200)  # PostgreSQL: by the walk's first rows
    monkeypatch.setattr(listing, "SAMPLE_MATCHES", 3)
    newest = sorted(
        (c for c in found if c.organization_id == org), key=lambda c: (c.start_at or c.created_at, c.id)
    )
    assert sum(_matches("예약", c) for c in newest[-200:]) >= 3
    with db.read() as conn:
        common = listing.route(conn, CallQuery(organization_id=org, search="예약")).search
        rare = listing.route(conn, CallQuery(organization_id=org, search="없는말")).search
    assert common is not None and not common.use_index
    assert rare is not None and rare.use_index
