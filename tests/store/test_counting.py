"""An organisation's total from its counted days and the calls since (`store.counting`)."""

from __future__ import annotations

import random
import time
from dataclasses import replace

from sqlalchemy import select, text

from callplane.domain.call import Call
from callplane.domain.ids import new_id
from callplane.store import counting, creating
from callplane.store.db import Database
from callplane.store.schema import call_count_marks, call_counts
from tests.factories import insert_calls, random_call

DAY = counting.DAY_MS
#: 2026-03-01 UTC: long settled by the time these tests run.
PAST = 1_772_323_200_000


def now_ms() -> int:
    return int(time.time() * 1000)


def calls_over_days(rng: random.Random, org: str, days: int, per_day: int) -> list[Call]:
    agents = [new_id()]
    return [
        random_call(rng, org, agents, start_at=PAST + day * DAY + rng.randint(0, DAY - 120_000))
        for day in range(days)
        for _ in range(rng.randint(0, per_day))
    ]


def total(db: Database, org: str) -> int:
    with db.read() as conn:
        return counting.organization_total(conn, org)


def mark(db: Database, org: str) -> int | None:
    with db.read() as conn:
        m = call_count_marks
        found = conn.execute(select(m.c.counted_until).where(m.c.organization_id == org)).scalar_one_or_none()
        return None if found is None else int(found)


def test_days_are_counted_once_and_the_total_is_exact(db: Database) -> None:
    rng = random.Random(3)
    org, other = new_id(), new_id()
    mine = calls_over_days(rng, org, days=9, per_day=6)
    insert_calls(db, mine + calls_over_days(rng, other, days=4, per_day=5))
    assert total(db, org) == len(mine)
    assert mark(db, org) == counting.counted_until(now_ms())
    with db.read() as conn:
        d = call_counts
        days = dict(conn.execute(select(d.c.day, d.c.calls).where(d.c.organization_id == org)).all())
    expected: dict[int, int] = {}
    for c in mine:
        expected[c.created_at - c.created_at % DAY] = expected.get(c.created_at - c.created_at % DAY, 0) + 1
    assert days == expected
    assert mark(db, other) == 0  # its backdated calls made a mark, but nothing is counted yet
    assert total(db, org) == len(mine)  # the second time from the counted days alone


def test_a_backdated_insert_or_delete_moves_the_mark_back_and_is_counted(db: Database) -> None:
    rng = random.Random(4)
    org = new_id()
    found = calls_over_days(rng, org, days=6, per_day=4)
    insert_calls(db, found)
    assert total(db, org) == len(found)
    settled = counting.counted_until(now_ms())
    late = replace(random_call(rng, org, [new_id()], start_at=PAST + 2 * DAY + 5000), id=new_id())
    insert_calls(db, [late])  # an import into a counted day
    assert mark(db, org) == late.created_at - late.created_at % DAY
    assert total(db, org) == len(found) + 1
    assert mark(db, org) == settled
    gone = found[0]
    with db.write() as conn:
        delete = text("DELETE FROM calls WHERE organization_id = :o AND id = :i")
        conn.execute(delete, {"o": org, "i": gone.id})
    assert mark(db, org) == gone.created_at - gone.created_at % DAY
    assert total(db, org) == len(found)


def test_calls_made_now_are_counted_live_and_write_nothing(db: Database) -> None:
    rng = random.Random(5)
    org = new_id()
    found = calls_over_days(rng, org, days=3, per_day=5)
    insert_calls(db, found)
    assert total(db, org) == len(found)
    before = mark(db, org)
    fresh = [random_call(rng, org, [new_id()], start_at=now_ms()) for _ in range(7)]
    insert_calls(db, fresh)
    assert mark(db, org) == before  # an ordinary create leaves the counts alone
    assert total(db, org) == len(found) + 7


def test_a_total_inside_a_callers_transaction_counts_in_it(db: Database) -> None:
    rng = random.Random(6)
    org = new_id()
    found = calls_over_days(rng, org, days=3, per_day=5)
    with db.write() as conn:
        for call in found:
            creating.insert_call(conn, call)
        assert counting.organization_total(conn, org) == len(found)
    assert total(db, org) == len(found)


def test_a_day_is_counted_only_once_it_settled() -> None:
    start = PAST + 10 * DAY
    assert counting.counted_until(start + counting.SETTLE_MS) == start
    assert counting.counted_until(start + counting.SETTLE_MS - 1) == start - DAY
