"""`python -m bench.run` survives a slow host (issue 16 §3): a statement that hits its timeout is
counted in the report, beside the figures of the requests that went through, never a crash."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from bench import load, run
from bench.report import BEGIN, END, report, write_report
from sqlalchemy.engine import make_url

TIMEOUT_MS = 100
BURST = 3  #: requests of each kind per shape


@pytest.mark.slow
@pytest.mark.postgres
def test_totals_that_time_out_are_reported_and_the_run_finishes(
    empty_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    load.load(empty_postgres_url, 300, 100)
    name = make_url(empty_postgres_url).database
    with psycopg.connect(empty_postgres_url, autocommit=True) as conn:
        # For the server's sessions too (it opens them after this).
        conn.execute(f"ALTER DATABASE {name} SET statement_timeout = {TIMEOUT_MS}")
    with psycopg.connect(empty_postgres_url) as locker:
        # The unfiltered total reads the organisation's count mark first: held here, every such
        # total waits until its timeout (a slow host, made certain); nothing else reads the mark.
        locker.execute("LOCK TABLE call_count_marks IN ACCESS EXCLUSIVE MODE")
        result = run.bench_database(
            empty_postgres_url,
            reps=1,
            warmup=0,
            out_dir=tmp_path,
            statement_timeout_ms=TIMEOUT_MS,
            ingest_calls=6,
            burst=BURST,
        )
        locker.rollback()

    shapes = {s["name"]: s for s in result["shapes"]}
    for timed_out in ("first page + total", "deep keyset page (row 10,000) + total"):
        failures = shapes[timed_out]["failures"]
        assert failures["store: QueryCanceled"] == BURST, failures
        assert sum(n for why, n in failures.items() if why.startswith("API: HTTP 5")) == BURST, failures
        assert shapes[timed_out]["api"][0] != shapes[timed_out]["api"][0]  # NaN: no request succeeded
    went_through = [
        s
        for s in result["shapes"]
        if not s["name"].startswith(("first page +", "deep keyset page (row 10,000) +"))
    ]
    assert all(not s["failures"] and s["api"][0] > 0 for s in went_through), [
        s["failures"] for s in went_through
    ]
    assert result["ingest"]["failed"] == {}

    text = report({"machine": run.machine(), "databases": [result], "loadavg_end": (0.0, 0.0, 0.0)})
    assert "**Requests that failed**" in text
    assert f"first page + total: store: QueryCanceled ×{BURST}" in text
    assert "| first page + total | b-tree | 50 | ≈" not in text  # no total was shown for it


def test_the_report_rewrites_its_own_part_of_the_results_file(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    write_report(out, "first\n")
    out.write_text("# notes by hand\n\n" + out.read_text() + "\n## worker pace, by hand\n")
    write_report(out, "second\n")
    assert out.read_text() == f"# notes by hand\n\n{BEGIN}\nsecond\n{END}\n\n## worker pace, by hand\n"
    plain = tmp_path / "other.md"
    plain.write_text("kept\n")
    write_report(plain, "third\n")
    assert plain.read_text() == f"kept\n\n{BEGIN}\nthird\n{END}\n"
