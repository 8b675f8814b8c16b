"""Charts as server-rendered SVG: the analytics page's geometry, computed from a `Report`.

No chart library and no script: each chart is a list of rectangles, lines and labels that
`charts.html` draws as inline SVG (colours come from classes in app.css, so the page's CSP needs
no inline style). Every bar carries a `<title>` with its exact figure for a hover tooltip.

Time buckets are local to the organisation: the store's UTC hours are folded into local hours
(a range of up to two days) or local days, and empty buckets are drawn as gaps, not skipped. For
a range of days the store folds them itself (`Timeline.folds`: the first UTC hour of each local
day), so the charts name a few dozen tallies, not every hour's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from callplane.domain.call import CallStatus
from callplane.store.reports import HOUR_MS, Kpis, Report

WIDTH = 900
HEIGHT = 220
LEFT = 64  #: room for the y axis labels
BOTTOM = 28  #: room for the x axis labels
TOP = 10
RIGHT = 36  #: room for the last x label, centred on its bar
ROW = 22  #: a horizontal bar's row height
#: Up to this span the time charts have hourly buckets, beyond it daily ones.
HOURLY_MAX_MS = 48 * HOUR_MS
HOUR_NAME = "%m-%d %H:00"
DAY_NAME = "%Y-%m-%d"
#: At most this many x labels, so they never overlap.
X_LABELS = 8

Translate = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    cls: str
    title: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    rects: list[Rect] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    #: Grid lines: (x1, y1, x2, y2).
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)
    #: (css class, text) pairs for the legend.
    legend: list[tuple[str, str]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.rects


@dataclass(frozen=True, slots=True)
class Timeline:
    """A time chart's buckets: their local names, whether they are hours (else days), and the
    first UTC hour of each (what `reports.report` folds the hours into)."""

    names: list[str]
    hourly: bool
    starts: list[int]

    @property
    def folds(self) -> list[int] | None:
        """The starts for the store to fold at: days only (a span of hours is at most 49 rows a
        status, and the charts name a repeated local hour the same)."""
        return None if self.hourly else self.starts


def timeline(first: int, last: int, timezone: str) -> Timeline:
    """The local buckets of UTC hours `first` to `last`."""
    hourly = (last - first) * HOUR_MS <= HOURLY_MAX_MS
    zone = ZoneInfo(timezone)
    names: list[str] = []
    starts: list[int] = []
    seen: object = None
    for hour in range(first, last + 1):
        moment = datetime.fromtimestamp(hour * HOUR_MS / 1000, tz=zone)
        # What the name shows, compared before it is formatted (a month is 720 hours, 30 names).
        shown = (moment.month, moment.day, moment.hour) if hourly else moment.date()
        if shown != seen:
            seen = shown
            names.append(moment.strftime(HOUR_NAME if hourly else DAY_NAME))
            starts.append(hour)
    return Timeline(names, hourly, starts)


def period(low: int | None, high: int | None, timezone: str) -> Timeline | None:
    """The buckets of a range known before its report (both ends given), else None."""
    if low is None or high is None:
        return None
    return timeline(low // HOUR_MS, high // HOUR_MS, timezone)


def buckets(report: Report, low: int | None, high: int | None, timezone: str) -> tuple[list[str], bool]:
    """The local bucket names from `low` to `high` (the data's own span when open), and
    whether they are hours (else days)."""
    hours = [h.hour for h in report.hours]
    first = low // HOUR_MS if low is not None else min(hours, default=None)
    last = high // HOUR_MS if high is not None else max(hours, default=None)
    if first is None or last is None:
        return [], False
    found = timeline(first, last, timezone)
    return found.names, found.hourly


def bucket_name(hour: int, timezone: str, hourly: bool) -> str:
    moment = datetime.fromtimestamp(hour * HOUR_MS / 1000, tz=ZoneInfo(timezone))
    return moment.strftime(HOUR_NAME if hourly else DAY_NAME)


def _slots(report: Report, names: list[str], hourly: bool, timezone: str) -> list[int | None]:
    """The slot of each of the report's hours (None: outside `names`), naming each hour once."""
    index = {n: i for i, n in enumerate(names)}
    named: dict[int, int | None] = {}
    for h in report.hours:
        if h.hour not in named:
            named[h.hour] = index.get(bucket_name(h.hour, timezone, hourly))
    return [named[h.hour] for h in report.hours]


def _nice_max(value: float) -> float:
    """The smallest 1/2/5 × 10^n at or above `value` (a readable top for the y axis)."""
    if value <= 0:
        return 1
    step = 1.0
    while step * 10 <= value:
        step *= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _time_axes(chart: Chart, names: list[str], top: float, fmt: Callable[[float], str]) -> None:
    plot_h = chart.height - TOP - BOTTOM
    for i in range(3):
        y = TOP + plot_h * i / 2
        chart.lines.append((LEFT, y, chart.width - RIGHT, y))
        chart.labels.append(Label(LEFT - 6, y + 4, fmt(top * (2 - i) / 2), "end"))
    every = max(1, -(-len(names) // X_LABELS))
    slot = (chart.width - LEFT - RIGHT) / max(1, len(names))
    for i in range(0, len(names), every):
        chart.labels.append(Label(LEFT + slot * (i + 0.5), chart.height - 8, names[i]))


def volume(report: Report, names: list[str], hourly: bool, timezone: str, t: Translate) -> Chart:
    """Calls per bucket, stacked by status (in the status vocabulary's order)."""
    counts: dict[int, dict[CallStatus, int]] = defaultdict(lambda: defaultdict(int))
    for h, slot_i in zip(report.hours, _slots(report, names, hourly, timezone), strict=True):
        if slot_i is not None:
            counts[slot_i][h.status] += h.tally.calls
    chart = Chart(WIDTH, HEIGHT)
    top = _nice_max(max((sum(c.values()) for c in counts.values()), default=0))
    _time_axes(chart, names, top, lambda v: f"{v:,.0f}")
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(names))
    seen: set[CallStatus] = set()
    for i, by_status in sorted(counts.items()):
        y: float = TOP + plot_h
        for status in CallStatus:
            n = by_status.get(status, 0)
            if not n:
                continue
            seen.add(status)
            height = plot_h * n / top
            y -= height
            label = t("status." + status.value)
            chart.rects.append(
                Rect(
                    LEFT + slot * i + slot * 0.1,
                    y,
                    slot * 0.8,
                    height,
                    f"s-{status.value}",
                    f"{names[i]} · {label}: {n:,}",
                )
            )
    chart.legend.extend((f"s-{s.value}", t("status." + s.value)) for s in CallStatus if s in seen)
    return chart


def cost(report: Report, names: list[str], hourly: bool, timezone: str, won: Callable[[int], str]) -> Chart:
    totals: dict[int, int] = defaultdict(int)
    for h, slot_i in zip(report.hours, _slots(report, names, hourly, timezone), strict=True):
        if slot_i is not None:
            totals[slot_i] += h.tally.cost_minor
    chart = Chart(WIDTH, HEIGHT)
    top = _nice_max(max(totals.values(), default=0))
    _time_axes(chart, names, top, lambda v: won(int(v)))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(names))
    for i, minor in sorted(totals.items()):
        if minor > 0:
            height = plot_h * minor / top
            x = LEFT + slot * i + slot * 0.1
            chart.rects.append(
                Rect(x, TOP + plot_h - height, slot * 0.8, height, "cost", f"{names[i]}: {won(minor)}")
            )
    return chart


def bars(rows: Iterable[tuple[str, int, str]], width: int = WIDTH) -> Chart:
    """Horizontal bars, largest first: (label, value, css class)."""
    ordered = sorted(rows, key=lambda r: -r[1])
    chart = Chart(width, TOP + ROW * len(ordered) + 4)
    top = max((v for _, v, _ in ordered), default=0) or 1
    label_w = 180
    room = width - label_w - 80
    for i, (label, value, cls) in enumerate(ordered):
        y = TOP + ROW * i
        chart.labels.append(Label(label_w - 8, y + ROW * 0.65, label, "end"))
        w = max(1.0, room * value / top)
        chart.rects.append(Rect(label_w, y + 3, w, ROW - 6, cls, f"{label}: {value:,}"))
        chart.labels.append(Label(label_w + w + 6, y + ROW * 0.65, f"{value:,}", "start"))
    return chart


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the per-agent or per-variant table."""

    label: str
    tally: Kpis
    share: float  #: of the largest row's calls, for the row's bar


def table(groups: dict[str, Kpis]) -> list[Row]:
    top = max((k.calls for k in groups.values()), default=0) or 1
    return [Row(label, k, k.calls / top) for label, k in sorted(groups.items(), key=lambda g: -g[1].calls)]
