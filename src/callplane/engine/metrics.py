"""Prometheus metrics (prometheus_client), one process at a time.

Each process exposes its own: the API at `GET /metrics`, a `callplane worker` on
`CALLPLANE_METRICS_PORT` (off when unset), `serve` its API and embedded worker together. We do not
use prometheus_client's multiprocess mode: every callplane process is a single process (uvicorn
without `--workers`), so per-process scraping is simpler and keeps histograms exact. Counters and
histograms are per process — sum them across targets. The `callplane_queue_*`, `callplane_calls_live`
and `callplane_calls_stuck` gauges are read from the database at scrape time and are the same on
every target — take `max`, not `sum` (engine/scrape.py). This module holds no database access, so
the live call may count its own errors.

Labels are bounded vocabularies only (statuses, reasons, route templates, result kinds), never
ids, paths or URLs.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_SECONDS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

calls_finished = Counter(
    "callplane_calls_finished",
    "Calls that reached a terminal status, by status and disconnection reason.",
    ["status", "reason"],
)
worker_live_calls = Gauge("callplane_worker_live_calls", "Live calls this process's workers run.")
claim_to_dial = Histogram(
    "callplane_claim_to_dial_seconds",
    "From a worker's claim of a call to the provider's dial (the call ringing).",
    buckets=_SECONDS,
)
webhook_attempts = Counter(
    "callplane_webhook_attempts",
    "Webhook delivery attempts by result: delivered, retry (another attempt is scheduled), failed.",
    ["result"],
)
webhook_lag = Histogram(
    "callplane_webhook_attempt_lag_seconds",
    "How late an attempt was made after it was due (the first attempt is due when its event is "
    "written), by attempt: first or retry.",
    ["attempt"],
    buckets=_SECONDS,
)
http_duration = Histogram(
    "callplane_http_request_duration_seconds",
    "API request latency by method, route template and status code.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
llm_errors = Counter(
    "callplane_llm_errors",
    "Failed requests to a chat-completions endpoint (each attempt), by kind: "
    "timeout, connect, http_429, http_5xx, http_4xx, invalid.",
    ["kind"],
)
engine_errors = Counter(
    "callplane_engine_errors",
    "Unexpected failures inside a worker, by component (claim, call, store_outcome, a loop's name).",
    ["component"],
)
