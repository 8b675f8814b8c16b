"""The chart geometry: local buckets, gaps for empty ones, a readable top of the y axis."""

from __future__ import annotations

from callplane.domain.call import CallStatus
from callplane.store.reports import HOUR_MS, HourTally, Kpis, Report
from callplane.web import charts

# 2026-01-01 00:00 UTC = 09:00 in Seoul.
MIDNIGHT_UTC = 1_767_225_600_000
HOUR = MIDNIGHT_UTC // HOUR_MS


def _report(*hours: tuple[int, CallStatus, int]) -> Report:
    return Report([HourTally(h, s, Kpis(calls=n, cost_minor=100 * n)) for h, s, n in hours], [], [])


def test_days_are_local_and_empty_days_are_gaps() -> None:
    report = _report((HOUR + 14, CallStatus.ENDED, 3), (HOUR + 15, CallStatus.ENDED, 2))
    low, high = MIDNIGHT_UTC - 9 * HOUR_MS, MIDNIGHT_UTC + 3 * 24 * HOUR_MS
    names, hourly = charts.buckets(report, low, high, "Asia/Seoul")
    assert not hourly and names == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    chart = charts.volume(report, names, hourly, "Asia/Seoul", lambda key: key)
    # 14:00 UTC is 23:00 on 1 January in Seoul, 15:00 UTC is midnight of the 2nd: two bars.
    assert [r.title for r in chart.rects] == ["2026-01-01 · status.ended: 3", "2026-01-02 · status.ended: 2"]


def test_up_to_two_days_the_buckets_are_hours() -> None:
    names, hourly = charts.buckets(_report(), MIDNIGHT_UTC, MIDNIGHT_UTC + 24 * HOUR_MS, "Asia/Seoul")
    assert hourly and names[0] == "01-01 09:00" and len(names) == 25


def test_stacked_bars_fill_the_plot_to_the_nice_top() -> None:
    report = _report((HOUR, CallStatus.ENDED, 30), (HOUR, CallStatus.ERROR, 12))
    names, hourly = charts.buckets(report, MIDNIGHT_UTC, MIDNIGHT_UTC + HOUR_MS - 1, "UTC")
    chart = charts.volume(report, names, hourly, "UTC", lambda key: key)
    plot = charts.HEIGHT - charts.TOP - charts.BOTTOM
    # 42 calls under a top of 50: the stack is 42/50 of the plot, the error part on top.
    assert round(sum(r.h for r in chart.rects), 6) == round(plot * 42 / 50, 6)
    assert [r.cls for r in chart.rects] == ["s-ended", "s-error"]
    assert "50" in [label.text for label in chart.labels]
