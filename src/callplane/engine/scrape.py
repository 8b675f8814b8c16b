"""What a process's `/metrics` shows: its own metrics (engine/metrics.py, plus the standard
process collector's) and the queue gauges, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from callplane.store import gauges
from callplane.store.db import Database

#: A live call whose lease ran out this long ago and is still live has outlived every reaper pass
#: it should have had: its worker is gone and nobody reaps (or the reapers are stalled).
STUCK_AFTER_MS = 60_000


class _QueueCollector(Collector):
    """The queue and live-call gauges, read from the database at scrape time."""

    def __init__(self, db: Database, now_ms: Callable[[], int]) -> None:
        self._db = db
        self._now_ms = now_ms

    def collect(self) -> Iterator[Metric]:
        now = self._now_ms()
        with self._db.read() as conn:
            g = gauges.queue_gauges(conn, now, STUCK_AFTER_MS)
        yield GaugeMetricFamily("callplane_queue_due_calls", "Queued calls that are due now.", value=g.due)
        age = (now - g.oldest_due_at) / 1000 if g.oldest_due_at is not None else 0.0
        yield GaugeMetricFamily(
            "callplane_queue_oldest_due_age_seconds",
            "How long the longest-waiting due call has waited past its due time (0: none).",
            value=max(0.0, age),
        )
        live = GaugeMetricFamily(
            "callplane_calls_live", "Live calls in the database, by status.", labels=["status"]
        )
        for status, count in g.live.items():
            live.add_metric([status], count)
        yield live
        yield GaugeMetricFamily(
            "callplane_calls_stuck",
            "Live calls whose lease expired over a minute ago and that no reaper ended.",
            value=g.stuck,
        )


class _Both(Collector):
    def __init__(self, parts: Iterable[Collector | CollectorRegistry]) -> None:
        self._parts = list(parts)

    def collect(self) -> Iterator[Metric]:
        for part in self._parts:
            yield from part.collect()


def registry(db: Database, now_ms: Callable[[], int]) -> CollectorRegistry:
    """What a process's `/metrics` shows: its own metrics (and the process collector's) plus the
    database's queue gauges."""
    combined = CollectorRegistry(auto_describe=False)
    combined.register(_Both([REGISTRY, _QueueCollector(db, now_ms)]))
    return combined
