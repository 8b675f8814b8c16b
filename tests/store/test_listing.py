"""Every list filter and sort, on both databases, against a brute-force evaluation in Python."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

import pytest

from callplane.domain.call import Call, CallStatus, CallType, DisconnectionReason, Sentiment
from callplane.domain.ids import new_id
from callplane.domain.query import CallQuery, CountMode, Range, SortField, SortOrder
from callplane.domain.search import matches as search_matches
from callplane.store import listing
from callplane.store.db import Database
from tests.factories import insert_calls, random_call

BASE = 1_767_225_600_000
PHRASES = [
    "예약 변경 부탁드려요",
    "취소하고 싶어요",
    "Help support please",
    "배송 확인",
    "네 맞아요",
    "100% 환불_요청",
]


def listed_at(call: Call) -> int:
    return call.start_at if call.start_at is not None else call.created_at


def sort_value(call: Call, sort: SortField) -> Any:
    return {
        SortField.START: listed_at(call),
        SortField.END: call.end_at,
        SortField.DURATION: call.duration_ms,
        SortField.CREATED: call.created_at,
        SortField.ID: call.id,
    }[sort]


def in_range(value: int | None, bounds: Range) -> bool:
    if bounds.is_open:
        return True
    if value is None:
        return False
    return (bounds.low is None or value >= bounds.low) and (bounds.high is None or value <= bounds.high)


def brute_force(found: list[Call], q: CallQuery) -> list[str]:
    def keep(c: Call) -> bool:
        sentiment = c.analysis.user_sentiment if c.analysis else None
        return (
            c.organization_id == q.organization_id
            and (not q.call_ids or c.id in q.call_ids)
            and (not q.agent_ids or c.agent.agent_id in q.agent_ids)
            and (not q.statuses or c.status in q.statuses)
            and (not q.call_types or c.call_type in q.call_types)
            and (not q.disconnection_reasons or c.disconnection_reason in q.disconnection_reasons)
            and (not q.user_sentiments or sentiment in q.user_sentiments)
            and (not q.from_numbers or c.from_number in q.from_numbers)
            and (not q.to_numbers or c.to_number in q.to_numbers)
            and (q.start_at.is_open or (c.start_at is not None and in_range(c.start_at, q.start_at)))
            and in_range(c.end_at, q.end_at)
            and in_range(c.duration_ms, q.duration_ms)
            and all(
                k in c.metadata and c.metadata[k] == v and type(c.metadata[k]) is type(v)
                for k, v in q.metadata
            )
            and (
                q.search is None
                or search_matches(q.search, "\n".join(e["content"] for e in c.transcript or []))
            )
        )

    kept = [c for c in found if keep(c)]
    known = [c for c in kept if sort_value(c, q.sort) is not None]
    unknown = [c for c in kept if sort_value(c, q.sort) is None]
    reverse = q.order is SortOrder.DESC
    known.sort(key=lambda c: (sort_value(c, q.sort), c.id), reverse=reverse)
    unknown.sort(key=lambda c: c.id, reverse=reverse)
    return [c.id for c in known + unknown]


def page_through(db: Database, q: CallQuery) -> list[str]:
    seen: list[str] = []
    with db.read() as conn:
        page = listing.list_calls(conn, q)
        seen += [c.id for c in page.calls]
        while page.next_cursor is not None:
            page = listing.list_calls(conn, q.next_page(page.next_cursor))
            seen += [c.id for c in page.calls]
            assert len(seen) <= 5000, "paging does not terminate"
    return seen


@pytest.fixture
def corpus(db: Database) -> tuple[str, list[Call]]:
    rng = random.Random(7)
    org, other = new_id(), new_id()
    agents = [new_id() for _ in range(3)]
    found = []
    for i in range(240):
        start = BASE + rng.choice([0, 0, 1000, 5000, 86_400_000]) + (i % 3) * 60_000
        found.append(random_call(rng, org, agents, start_at=start, phrases=PHRASES))
    found += [random_call(rng, other, agents, start_at=BASE, phrases=PHRASES) for _ in range(40)]
    insert_calls(db, found)
    return org, found


def random_query(rng: random.Random, org: str, found: list[Call]) -> CallQuery:
    mine = [c for c in found if c.organization_id == org]
    sample = rng.sample(mine, 3)
    options: dict[str, Any] = {}
    picks = rng.sample(range(13), rng.randint(0, 3))
    if 0 in picks:
        options["agent_ids"] = tuple({c.agent.agent_id for c in sample})
    if 1 in picks:
        options["statuses"] = tuple(rng.sample(list(CallStatus), rng.randint(1, 3)))
    if 2 in picks:
        options["call_types"] = tuple(
            rng.sample([CallType.OUTBOUND, CallType.WEB, CallType.API], rng.randint(1, 2))
        )
    if 3 in picks:
        options["disconnection_reasons"] = tuple(rng.sample(list(DisconnectionReason), 4))
    if 4 in picks:
        options["user_sentiments"] = tuple(rng.sample(list(Sentiment), 2))
    if 5 in picks:
        options["from_numbers"] = ("+827011112222",)
    if 6 in picks:
        options["to_numbers"] = tuple({c.to_number for c in sample if c.to_number})
    if 7 in picks:
        options["start_at"] = Range(BASE + 1000, BASE + 86_400_000 + 60_000)
    if 8 in picks:
        options["duration_ms"] = rng.choice([Range(30_000, None), Range(None, 30_000), Range(1000, 95_000)])
    if 9 in picks:
        options["end_at"] = Range(BASE + 30_000, None)
    if 10 in picks:
        options["metadata"] = rng.choice(
            [(("campaign", "spring"),), (("customer_id", 7),), (("priority", True),), (("customer_id", "7"),)]
        )
    if 11 in picks:
        options["search"] = rng.choice(["예약", "취소", "help SUPPORT", "%", "_요", "배", "nothing"])
    if 12 in picks:
        options["call_ids"] = tuple(c.id for c in sample)
    return CallQuery(
        organization_id=org,
        sort=rng.choice(list(SortField)),
        order=rng.choice(list(SortOrder)),
        limit=rng.choice([1, 3, 10, 50]),
        **options,
    )


def test_every_filter_and_sort_matches_brute_force(db: Database, corpus: tuple[str, list[Call]]) -> None:
    org, found = corpus
    rng = random.Random(11)
    nonempty = 0
    for _ in range(120):
        q = random_query(rng, org, found)
        expected = brute_force(found, q)
        assert page_through(db, q) == expected, q
        with db.read() as conn:
            total = listing.list_calls(conn, replace(q, count=CountMode.EXACT)).total
        assert total is not None and total.exact and total.value == len(expected)
        nonempty += bool(expected)
    assert nonempty > 60  # the queries really select something


@pytest.mark.parametrize("sort", list(SortField))
@pytest.mark.parametrize("order", list(SortOrder))
def test_each_sort_alone(
    db: Database, corpus: tuple[str, list[Call]], sort: SortField, order: SortOrder
) -> None:
    org, found = corpus
    q = CallQuery(organization_id=org, sort=sort, order=order, limit=17)
    assert page_through(db, q) == brute_force(found, q)


def test_tied_start_times_page_without_gaps_or_repeats(db: Database) -> None:
    rng = random.Random(3)
    org = new_id()
    agents = [new_id()]
    found = []
    for i in range(1100):
        call = random_call(rng, org, agents, start_at=BASE + (i % 4) * 1000)
        if call.start_at is None:  # queued: listed by created_at, which we tie as well
            call = replace(call, created_at=BASE + (i % 4) * 1000)
        found.append(call)
    insert_calls(db, found)
    for sort in (SortField.START, SortField.DURATION):
        for order in SortOrder:
            expected = brute_force(found, CallQuery(organization_id=org, sort=sort, order=order))
            assert len(expected) == 1100
            for size in (7, 50, 100, 333):
                q = CallQuery(organization_id=org, sort=sort, order=order, limit=size)
                got = page_through(db, q)
                assert len(got) == len(set(got)) == 1100
                assert got == expected


def test_offset_pages_cross_the_unknown_segment(db: Database, corpus: tuple[str, list[Call]]) -> None:
    org, found = corpus
    for sort in (SortField.END, SortField.START):
        q = CallQuery(organization_id=org, sort=sort, order=SortOrder.DESC, limit=13)
        expected = brute_force(found, q)
        got: list[str] = []
        with db.read() as conn:
            for page_number in range(len(expected) // 13 + 2):
                got += [c.id for c in listing.list_calls(conn, replace(q, offset=page_number * 13)).calls]
        assert got == expected


def test_other_organizations_calls_never_appear(db: Database, corpus: tuple[str, list[Call]]) -> None:
    org, found = corpus
    theirs = {c.id for c in found if c.organization_id != org}
    got = page_through(db, CallQuery(organization_id=org, limit=50))
    assert got and not theirs & set(got)
