"""Totals tell the truth: the same answer every time, equal to a brute-force count (issue 16).

Every filter the API accepts, alone and combined, on both databases; 30 identical requests each,
while another process keeps a CPU busy (no timing is asserted: a total must not depend on it).
A search list ends at `MAX_SEARCH_RESULTS` (made small here) and its total counts that list.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from callplane.domain.call import Call, CallStatus, CallType, Direction, DisconnectionReason, Sentiment
from callplane.domain.query import CallQuery, CountMode, Cursor, Range, SortField, SortOrder
from callplane.store import listing
from callplane.store.db import Database
from tests.store.test_listing import BASE, brute_force, corpus, in_range, listed_at

__all__ = ["corpus"]  # the fixture, shared with test_listing.py

#: Small, so the corpus's common words pass it.
CAP = 6
REQUESTS = 30


@pytest.fixture
def busy_cpu() -> Iterator[None]:
    """Another process spinning on a core while the requests run (a loaded host)."""
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        burner.kill()
        burner.wait()


def shapes(org: str, found: list[Call]) -> dict[str, dict[str, Any]]:
    mine = [c for c in found if c.organization_id == org]
    ended = next(c for c in mine if c.status is CallStatus.ENDED)
    return {
        "no filter": {},
        "agent": {"agent_ids": (ended.agent.agent_id,)},
        "statuses": {"statuses": (CallStatus.ENDED, CallStatus.ERROR)},
        "call type": {"call_types": (CallType.WEB,)},
        "direction": {"directions": (Direction.OUTBOUND,)},
        "reasons": {"disconnection_reasons": tuple(DisconnectionReason)[:5]},
        "sentiment": {"user_sentiments": (Sentiment.POSITIVE, Sentiment.NEGATIVE)},
        "from": {"from_numbers": ("+827011112222",)},
        "to": {"to_numbers": (ended.to_number,)},
        "call ids": {"call_ids": tuple(c.id for c in mine[:7])},
        "campaign": {"campaign_ids": ("no-such-campaign",)},
        "start range": {"start_at": Range(BASE + 1000, BASE + 86_400_000)},
        "listed range": {"listed_at": Range(BASE, BASE + 5000)},
        "end range": {"end_at": Range(BASE + 30_000, None)},
        "duration": {"duration_ms": Range(30_000, 95_000)},
        "metadata one value": {"metadata": (("campaign", "spring"),)},
        "metadata two values": {"metadata": (("campaign", "fall"), ("customer_id", 7))},
        "agent + status + range": {
            "agent_ids": (ended.agent.agent_id,),
            "statuses": (CallStatus.ENDED,),
            "start_at": Range(BASE, None),
        },
        "search common": {"search": "예약"},
        "search rarer": {"search": "help SUPPORT"},
        "search one char": {"search": "배"},
        "search absent": {"search": "뷁"},
        "search no letters": {"search": "%"},
        "search + range": {"search": "예약", "start_at": Range(BASE + 1000, None)},
        # Counted newest first (SQLite: FTS5 rowids downwards; PostgreSQL: a common word walks
        # the range's index), oldest first for a range with only an end: the same answer.
        "search + end range": {"search": "예약", "end_at": Range(BASE + 30_000, None)},
        "search + range with an end only": {"search": "예약", "start_at": Range(None, BASE + 86_400_000)},
        "search + metadata": {"search": "취소", "metadata": (("campaign", "summer"),)},
    }


def expected_total(found: list[Call], q: CallQuery) -> tuple[int, bool]:
    # test_listing's brute force knows every filter but these three.
    kept = [
        c
        for c in found
        if (not q.directions or c.direction in q.directions)
        and (not q.campaign_ids or c.campaign_id in q.campaign_ids)
        and in_range(listed_at(c), q.listed_at)
    ]
    plain = replace(q, directions=(), campaign_ids=(), listed_at=Range(), limit=1000)
    matches = len(brute_force(kept, plain))
    if q.search is None:
        return matches, True
    return min(matches, CAP), matches <= CAP


@pytest.mark.usefixtures("busy_cpu")
def test_thirty_identical_requests_give_one_true_total_for_every_shape(
    db: Database, corpus: tuple[str, list[Call]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listing, "MAX_SEARCH_RESULTS", CAP)
    org, found = corpus
    capped = 0
    for name, options in shapes(org, found).items():
        q = CallQuery(organization_id=org, limit=5, count=CountMode.EXACT, **options)
        value, exact = expected_total(found, q)
        capped += not exact
        with db.read() as conn:
            first = listing.list_calls(conn, q)
            deeper = listing.list_calls(conn, q.next_page(first.next_cursor)) if first.next_cursor else first
            answers = {listing.list_calls(conn, q).total for _ in range(REQUESTS - 2)}
        answers |= {first.total, deeper.total}
        assert answers == {listing.Total(value, exact)}, name
    assert capped >= 2  # the cap itself was exercised


@pytest.mark.parametrize("size", [1, 4, 6])
def test_a_search_list_ends_at_its_cap_and_its_total_is_what_can_be_paged(
    db: Database, corpus: tuple[str, list[Call]], monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(listing, "MAX_SEARCH_RESULTS", CAP)
    org, found = corpus
    q = CallQuery(organization_id=org, search="예약", limit=size, count=CountMode.EXACT, sort=SortField.END)
    expected = brute_force(found, replace(q, limit=1000))
    assert len(expected) > CAP
    seen: list[str] = []
    totals = set()
    with db.read() as conn:
        page = listing.list_calls(conn, q)
        while True:
            seen += [c.id for c in page.calls]
            totals.add(page.total)
            if page.next_cursor is None:
                break
            page = listing.list_calls(conn, q.next_page(page.next_cursor))
        by_offset = [
            c.id
            for n in range(0, CAP + size, size)
            for c in listing.list_calls(conn, replace(q, offset=n, order=SortOrder.DESC)).calls
        ]
    assert seen == expected[:CAP]
    assert totals == {listing.Total(CAP, exact=False)}
    assert by_offset == brute_force(found, replace(q, limit=1000, order=SortOrder.DESC))[:CAP]


def test_a_cursor_from_a_bare_call_id_cannot_page_a_search_past_its_cap(
    db: Database, corpus: tuple[str, list[Call]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Vox v2's and Retell's legacy pagination_key may be a call id: a cursor with no position.
    monkeypatch.setattr(listing, "MAX_SEARCH_RESULTS", CAP)
    org, found = corpus
    q = CallQuery(organization_id=org, search="예약", limit=50)
    expected = brute_force(found, q)
    by_id = {c.id: c for c in found}
    for i in (0, CAP - 2, CAP - 1, CAP + 3):
        after = by_id[expected[i]]
        cursor = Cursor(after.start_at if after.start_at is not None else after.created_at, after.id)
        with db.read() as conn:
            page = listing.list_calls(conn, q.next_page(cursor))
        assert [c.id for c in page.calls] == expected[i + 1 : CAP]
        assert page.next_cursor is None and not page.has_more


@pytest.mark.parametrize("db", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("walk_max", [10_000, 3])
def test_a_bounded_walk_and_the_index_count_give_the_same_capped_total(
    db: Database, corpus: tuple[str, list[Call]], monkeypatch: pytest.MonkeyPatch, walk_max: int
) -> None:
    # PostgreSQL counts a common word's matches by walking the newest calls when that looks
    # cheaper (`listing._walked_matches`), else through the GIN index. Here the walk is always
    # tried (no cost threshold): bounded by `walk_max` rows, the small bound falls back to the
    # index whenever the cap is not within reach. Either way, one answer: the brute force's.
    monkeypatch.setattr(listing, "MAX_SEARCH_RESULTS", CAP)
    monkeypatch.setattr(listing, "WALK_COST", 0)
    monkeypatch.setattr(listing, "WALK_MAX_ROWS", walk_max)
    walked: list[int | None] = []
    original = listing._walked_matches

    def spy(*args: Any) -> int | None:
        walked.append(original(*args))
        return walked[-1]

    monkeypatch.setattr(listing, "_walked_matches", spy)
    org, found = corpus
    for name, options in shapes(org, found).items():
        q = CallQuery(organization_id=org, limit=5, count=CountMode.EXACT, **options)
        value, exact = expected_total(found, q)
        with db.read() as conn:
            answers = {listing.list_calls(conn, q).total for _ in range(3)}
            answers.add(listing.list_calls(conn, replace(q, sort=SortField.END)).total)
        assert answers == {listing.Total(value, exact)}, name
    if walk_max > CAP * 10:
        assert CAP + 1 in walked  # the walk answered
    else:
        assert walked and set(walked) == {None}  # the index answered
