"""PostgreSQL's planner estimate, asked through the statement cache (`counting.planner_plan`)."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from callplane.domain.query import CallQuery
from callplane.store import counting, predicates
from callplane.store.db import Database
from tests.factories import insert_calls, random_call

pytestmark = pytest.mark.postgres


def test_the_planner_estimates_filters_with_bound_values_and_the_connection_stays_plain(
    postgres_db: Database,
) -> None:
    db = postgres_db
    with db.write() as conn:
        conn.execute(text("TRUNCATE calls"))
    rng = random.Random(3)
    org = "01a1ffdb-51c3-75ef-a9af-fe6483163667"
    insert_calls(db, [random_call(rng, org, ["a"], start_at=1_767_225_600_000 + i) for i in range(300)])
    with db.write() as conn:
        conn.execute(text("ANALYZE calls"))
    # A JSONB containment value and a quote: neither needs a literal form any more.
    q = CallQuery(organization_id=org, metadata=(("campaign", "spring"),), search=None)
    other = CallQuery(organization_id="it's another tenant")
    with db.read() as conn:
        planned = counting.planner_plan(conn, predicates.filters(q, "postgresql"))
        none_planned = counting.planner_plan(conn, predicates.filters(other, "postgresql"))
        # The EXPLAIN option belonged to that one statement: the next one runs as written.
        assert conn.execute(text("SELECT 41 + 1")).scalar_one() == 42
    assert planned is not None and none_planned is not None
    rows, cost = planned
    assert 30 <= rows <= 300 and cost > 0  # ~1/3 of 300 calls are in the "spring" campaign
    assert none_planned[0] <= 1
