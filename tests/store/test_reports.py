"""Reports from the rollups (migration 0017) and the success rate's verdict from them (migration
0019) equal a count of the calls themselves.

Each test changes calls the ways the application and an import can (insert, end, analyse after
the end, backdate, delete) and compares `reports.report` / `reports.kpis` with a brute-force
computation over every row of `calls`, for ranges on and off the buckets' edges; and
`success.success` of the verdict (true and false) likewise.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from callplane.domain.call import Call, CallAnalysis, CallStatus, DisconnectionReason, Sentiment
from callplane.domain.query import CallQuery, Range
from callplane.store import creating, reports, success
from callplane.store.db import Database
from callplane.store.migrate import downgrade, upgrade
from callplane.store.schema import calls
from tests.factories import Tenant, make_tenant
from tests.web.conftest import NOW, a_call, queued_call

HOUR = 3_600_000
DAY = 24 * HOUR
SEOUL = 9 * HOUR
OTHER_AGENT = "0190aaaa-0000-7000-8000-000000000001"
TERMINAL = [CallStatus.ENDED, CallStatus.NOT_CONNECTED, CallStatus.ERROR, CallStatus.CANCELED]
OPEN = [CallStatus.QUEUED, CallStatus.DIALING, CallStatus.RINGING, CallStatus.ONGOING]


def _calls(tenant: Tenant, n: int, seed: int = 7) -> list[Call]:
    """`n` calls over the 10 days before NOW: every status, two agents, variants, reasons and
    sentiments, some without them."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        at = NOW - rng.randrange(10 * DAY)
        status = rng.choice(TERMINAL * 3 + OPEN)
        if status is CallStatus.QUEUED:
            out.append(queued_call(tenant, at=at))
            continue
        answered = status in (CallStatus.ENDED, CallStatus.ONGOING, CallStatus.ERROR) and rng.random() < 0.8
        ended = status.is_terminal
        out.append(
            a_call(
                tenant,
                at=at,
                status=status,
                agent=replace(a_call(tenant).agent, agent_id=rng.choice([tenant.agent_id, OTHER_AGENT])),
                variant_label=rng.choice([None, "A", "B"]),
                answered_at=at + rng.randrange(1, 9_000) if answered else None,
                end_at=at + rng.randrange(10_000, 400_000) if ended else None,
                disconnection_reason=rng.choice([None, *DisconnectionReason]) if ended else None,
                analysis=_analysis(rng) if rng.random() < 0.6 else None,
                cost_minor=rng.choice([None, 0, rng.randrange(1, 90_000)]),
            )
        )
    return out


def _analysis(rng: random.Random) -> CallAnalysis:
    return CallAnalysis(
        None, rng.choice(list(Sentiment)), [], call_successful=rng.choice([None, True, False])
    )


def _insert(db: Database, batch: list[Call]) -> None:
    with db.write() as conn:
        creating.insert_calls(conn, batch)


Tallies = dict[Any, reports.Kpis]


def _brute(db: Database, q: CallQuery) -> tuple[Tallies, Tallies, Tallies]:
    """The report of `q` (a range and statuses) computed in Python from every call row."""
    with db.read() as conn:
        rows = (
            conn.execute(select(calls).where(calls.c.organization_id == q.organization_id)).mappings().all()
        )
    hours: Tallies = defaultdict(reports.Kpis)
    agents: Tallies = defaultdict(reports.Kpis)
    outcomes: Tallies = defaultdict(reports.Kpis)
    low, high = q.listed_at.low, q.listed_at.high
    for r in rows:
        if (low is not None and r["listed_at"] < low) or (high is not None and r["listed_at"] > high):
            continue
        if q.statuses and r["status"] not in q.statuses:
            continue
        talked = r["answered_at"] is not None and r["end_at"] is not None
        tally = reports.Kpis(
            1,
            int(r["start_at"] is not None),
            int(r["answered_at"] is not None),
            r["end_at"] - r["answered_at"] if talked else 0,
            int(talked),
            r["cost_minor"] or 0,
        )
        hours[(r["listed_at"] // HOUR, r["status"])] += tally
        agents[(r["agent_id"], r["variant_label"])] += tally
        outcomes[(r["disconnection_reason"], r["user_sentiment"])] += tally
    return dict(hours), dict(agents), dict(outcomes)


def _seen(db: Database, q: CallQuery) -> tuple[Tallies, Tallies, Tallies]:
    with db.read() as conn:
        report = reports.report(conn, q)
        assert reports.kpis(conn, q) == report.kpis
    hours = {(h.hour, h.status.value): h.tally for h in report.hours}
    agents = {(a.agent_id, a.variant_label): a.tally for a in report.agents}
    outcomes = {
        (o.reason.value if o.reason else None, o.sentiment.value if o.sentiment else None): o.tally
        for o in report.outcomes
    }
    # No key twice.
    assert (len(hours), len(agents), len(outcomes)) == tuple(
        map(len, (report.hours, report.agents, report.outcomes))
    )
    return hours, agents, outcomes


def _ranges(org: str) -> list[CallQuery]:
    """Seoul days (off UTC days), UTC days, ranges off any hour, open ends, no whole day or hour."""
    seoul_day = NOW - NOW % DAY - SEOUL
    return [
        CallQuery(org, listed_at=Range(seoul_day - 6 * DAY, seoul_day + DAY - 1)),
        CallQuery(org, listed_at=Range(NOW - 7 * DAY, NOW - 1)),
        CallQuery(org, listed_at=Range(NOW - 5 * DAY - 1_234_567, NOW - 98_765)),
        CallQuery(org, listed_at=Range(NOW - 3 * DAY + 1, None)),
        CallQuery(org, listed_at=Range(None, NOW - 2 * DAY - 17)),
        CallQuery(org),
        CallQuery(org, listed_at=Range(NOW - 5 * HOUR - 10, NOW - 5 * HOUR + 3_000_000)),
        # Inside one hour: no whole hour nor day, every call from `calls`.
        CallQuery(org, listed_at=Range(NOW - 5 * HOUR + 1_000, NOW - 5 * HOUR + 2_000_000)),
        # Not from the rollups (a status filter): the same figures from the calls alone.
        CallQuery(org, listed_at=Range(NOW - 8 * DAY, NOW), statuses=(CallStatus.ENDED, CallStatus.QUEUED)),
    ]


def _verdicts(db: Database, q: CallQuery) -> tuple[success.Success, success.Success]:
    """The verdict's success rate of `q` (true, false) computed in Python from every call row."""
    with db.read() as conn:
        rows = conn.execute(select(calls).where(calls.c.organization_id == q.organization_id)).mappings()
        low, high = q.listed_at.low, q.listed_at.high
        verdicts = [
            (r["analysis"] or {}).get(success.VERDICT)
            for r in rows
            if (low is None or r["listed_at"] >= low)
            and (high is None or r["listed_at"] <= high)
            and (not q.statuses or r["status"] in q.statuses)
        ]
    judged = [v for v in verdicts if isinstance(v, bool)]
    return success.Success(judged.count(True), len(judged)), success.Success(judged.count(False), len(judged))


def _folds(q: CallQuery) -> list[list[int]]:
    """Bucket starts over `q`'s range as the analytics page folds days: Seoul days (from 15:00
    UTC) — and, to be sure any starts work, irregular ones beginning after the range's first hour
    (the hours before fold into the first bucket)."""
    low = q.listed_at.low if q.listed_at.low is not None else NOW - 11 * DAY
    high = q.listed_at.high if q.listed_at.high is not None else NOW
    first = (low + SEOUL) // DAY * DAY - SEOUL
    days = [max(low, day) // HOUR for day in range(first, high + 1, DAY)]
    irregular = sorted(
        {(low + k * k * 7 * HOUR) // HOUR + 1 for k in range(12) if low + k * k * 7 * HOUR < high}
    )
    return [days, irregular]


def _folded(hours: Tallies, starts: list[int]) -> Tallies:
    folded: Tallies = defaultdict(reports.Kpis)
    for (hour, status), tally in hours.items():
        folded[(starts[max(0, bisect.bisect_right(starts, hour) - 1)], status)] += tally
    return dict(folded)


def _check(db: Database, tenant: Tenant) -> None:
    for q in _ranges(tenant.organization_id):
        brute = _brute(db, q)
        assert _seen(db, q) == brute, q
        for starts in _folds(q):
            with db.read() as conn:
                report = reports.report(conn, q, starts)
            hours = {(h.hour, h.status.value): h.tally for h in report.hours}
            assert len(hours) == len(report.hours) and hours == _folded(brute[0], starts), (q, starts)
        with db.read() as conn:
            seen = (
                success.success(conn, q, success.VERDICT),
                success.success(conn, q, success.VERDICT, False),
            )
        assert seen == _verdicts(db, q), (q.listed_at, q.statuses)


def test_reports_equal_the_calls_as_they_change(db: Database, tenant: Tenant) -> None:
    other = make_tenant(db, NOW, "other org")
    batch = _calls(tenant, 400)
    _insert(db, batch + _calls(other, 50, seed=8))
    _check(db, tenant)
    assert _seen(db, CallQuery(tenant.organization_id))[0]  # not vacuous: the range holds calls

    ids = [c.id for c in batch]
    with db.write() as conn:
        # Live calls end; ended calls get their analysis and cost after the end, or change status.
        conn.execute(
            update(calls)
            .where(calls.c.id.in_(ids[:60]), calls.c.status.in_([s.value for s in OPEN]))
            .values(status=CallStatus.ENDED.value, end_at=calls.c.listed_at + 90_000)
        )
        conn.execute(
            update(calls).where(calls.c.id.in_(ids[60:140])).values(user_sentiment=Sentiment.NEGATIVE.value)
        )
        conn.execute(
            update(calls).where(calls.c.id.in_(ids[140:180])).values(cost_minor=calls.c.cost_minor + 7)
        )
        conn.execute(
            update(calls)
            .where(calls.c.id.in_(ids[180:200]))
            .values(status=CallStatus.ERROR.value, disconnection_reason=None, variant_label="C")
        )
        # An ended call back to a live status (not a real transition: the triggers still follow).
        conn.execute(
            update(calls).where(calls.c.id.in_(ids[200:210])).values(status=CallStatus.ONGOING.value)
        )
        # Unrelated columns change nothing.
        conn.execute(
            update(calls).where(calls.c.id.in_(ids[210:260])).values(transcript=None, error_detail="x")
        )
    _check(db, tenant)

    # Backdated inserts into days and hours already summed, and deletes.
    _insert(db, _calls(tenant, 80, seed=9))
    with db.write() as conn:
        conn.execute(delete(calls).where(calls.c.id.in_(ids[260:330])))
    _check(db, tenant)


def test_an_ended_call_moves_to_its_new_hour_and_day(db: Database, tenant: Tenant) -> None:
    call = a_call(tenant, at=NOW - 3 * DAY)
    _insert(db, [call])
    q = CallQuery(tenant.organization_id, listed_at=Range(NOW - 10 * DAY, NOW))
    with db.write() as conn:
        conn.execute(update(calls).where(calls.c.id == call.id).values(listed_at=NOW - 5 * DAY))
    hours, _, _ = _seen(db, q)
    assert list(hours) == [((NOW - 5 * DAY) // HOUR, "ended")]
    assert _seen(db, q) == _brute(db, q)


@pytest.mark.parametrize("url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_migration_sums_the_calls_already_there(
    url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if url == "sqlite":
        url = f"sqlite:///{tmp_path / 'before.db'}"
    else:
        url = request.getfixturevalue("empty_postgres_url")
    db = Database(url)
    try:
        # The calls are written by today's store (its tables are the newest revision's: on
        # PostgreSQL `call_meta` only exists from 0022), then the schema goes back before the
        # rollups (0017) and forward again: the backfill sums what is there.
        upgrade(db)
        tenant = make_tenant(db, NOW)
        _insert(db, _calls(tenant, 300, seed=11))
        downgrade(db, "0016")
        upgrade(db)
        _check(db, tenant)
    finally:
        db.dispose()


def test_the_verdict_follows_an_analysis_written_after_the_end_and_rewritten(
    db: Database, tenant: Tenant
) -> None:
    """The post-call step writes the analysis after the call ended (the rollup row is already
    there), and a re-analysis may change or drop the verdict: each write moves the sums."""
    batch = [replace(c, analysis=None) for c in _calls(tenant, 300, seed=12)]
    _insert(db, batch)
    ended = [c.id for c in batch if c.status.is_terminal]
    q = CallQuery(tenant.organization_id, listed_at=Range(NOW - 7 * DAY, NOW - 1))

    def analyse(ids: list[str], verdict: bool | None) -> None:
        analysis = creating.analysis_to_json(CallAnalysis("요약", Sentiment.NEUTRAL, [], verdict))
        with db.write() as conn:
            conn.execute(update(calls).where(calls.c.id.in_(ids)).values(analysis=analysis))

    analyse(ended[:80], True)
    analyse(ended[80:120], False)
    with db.read() as conn:
        first = success.success(conn, q, success.VERDICT)
    assert first == _verdicts(db, q)[0]
    assert first.analysed > first.succeeded > 0  # not vacuous: both verdicts are in the range
    analyse(ended[:30], False)  # changed
    analyse(ended[30:45], None)  # the verdict dropped
    with db.write() as conn:
        conn.execute(update(calls).where(calls.c.id.in_(ended[80:90])).values(analysis=None))
    _check(db, tenant)
    with db.read() as conn:
        assert success.success(conn, q, success.VERDICT) != first
