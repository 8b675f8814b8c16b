"""On PostgreSQL two transactions ending calls of the same hours and days in opposite orders both commit
(migration 0021: rollup rows are written at commit, in key order) — with the row triggers of
0017/0019 the second statement of each waited for the other's first: a deadlock, one failed."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from callplane.domain.call import CallStatus
from callplane.domain.query import CallQuery, Range
from callplane.store.db import Database
from callplane.store.schema import calls
from tests.conftest import _truncate
from tests.factories import Tenant, make_tenant
from tests.store.test_reports import _brute, _insert, _seen
from tests.web.conftest import NOW, queued_call

HOUR = 3_600_000
DAY = 24 * HOUR

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg(postgres_db: Database) -> Iterator[Database]:
    _truncate(postgres_db)
    yield postgres_db


def _end(db: Database, ids: list[str], met: threading.Barrier, failures: list[BaseException]) -> None:
    """End `ids` in one transaction, one statement each, meeting the other thread after the first
    (both then hold whatever their first end locked)."""
    try:
        with db.engine.begin() as conn:
            for i, call_id in enumerate(ids):
                conn.execute(
                    update(calls)
                    .where(calls.c.id == call_id)
                    .values(status=CallStatus.ENDED.value, end_at=calls.c.listed_at + 60_000)
                )
                if i == 0:
                    met.wait(timeout=10)
    except BaseException as exc:
        failures.append(exc)


def test_two_transactions_ending_calls_in_opposite_orders_both_commit(pg: Database) -> None:
    tenant: Tenant = make_tenant(pg, NOW)
    # Two UTC days apart: each call's rows of every rollup table (hour, day) are the other's.
    early, late = NOW - 3 * DAY, NOW - DAY
    # Two calls to end in each hour, and one ended already: the rollup rows exist and are shared.
    a, b, c, d = (queued_call(tenant, at=at) for at in (early, late, late, early))
    _insert(pg, [a, b, c, d])
    ended = [queued_call(tenant, at=early), queued_call(tenant, at=late)]
    _insert(pg, ended)
    with pg.write() as conn:
        conn.execute(
            update(calls)
            .where(calls.c.id.in_([e.id for e in ended]))
            .values(status=CallStatus.ENDED.value, end_at=calls.c.listed_at + 60_000)
        )

    for _ in range(3):  # a deadlock needs the two to interleave: give it several chances
        met, failures = threading.Barrier(2), list[BaseException]()
        first = [a.id, b.id]  # early, then late
        second = [c.id, d.id]  # late, then early
        threads = [threading.Thread(target=_end, args=(pg, ids, met, failures)) for ids in (first, second)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert not failures, failures
        with pg.engine.begin() as conn:  # again, for the next round
            conn.execute(
                update(calls)
                .where(calls.c.id.in_([a.id, b.id, c.id, d.id]))
                .values(status=CallStatus.QUEUED.value, end_at=None)
            )

    q = CallQuery(tenant.organization_id, listed_at=Range(NOW - 4 * DAY, NOW))
    assert _seen(pg, q) == _brute(pg, q)
    with pg.engine.connect() as conn:
        pending = conn.exec_driver_sql("SELECT count(*) FROM call_rollup_pending").scalar_one()
    assert pending == 0  # every transaction folded its own at commit
