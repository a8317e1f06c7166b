"""Metrics this process counts itself (HTTP requests, scheduler jobs), in prometheus_client's
default registry. Figures that live in the database (refunds, sends, answers, money) are read at
scrape time by :mod:`observability.db_metrics` instead, so every replica reports the same truth.

All names are listed in docs/operations.md ("Metrics").
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "OVERDUE_FLAGGED",
    "SCHEDULER_LAST_SUCCESS",
    "SCHEDULER_RUNS",
    "SCHEDULER_RUN_SECONDS",
    "WATCHES_STARTED",
    "WATCH_START_FAILURES",
    "serve_process_metrics",
]

HTTP_REQUESTS = Counter(
    "refundwatch_http_requests",
    "HTTP requests served by the API, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "refundwatch_http_request_duration_seconds",
    "Time to serve an API request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

SCHEDULER_RUNS = Counter(
    "refundwatch_scheduler_runs",
    "Scheduler job runs by job and result (ok, error, skipped: another instance held the lease).",
    ["job", "result"],
)
SCHEDULER_RUN_SECONDS = Histogram(
    "refundwatch_scheduler_run_duration_seconds",
    "How long a scheduler job run took.",
    ["job"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
SCHEDULER_LAST_SUCCESS = Gauge(
    "refundwatch_scheduler_last_success_timestamp_seconds",
    "Unix time of this instance's last successful run of each job.",
    ["job"],
)
WATCHES_STARTED = Counter(
    "refundwatch_reconciler_watches_started",
    "Watches the reconciler started: never_started (the row was stored, the start failed) or "
    "missing_in_temporal (the row says started, Temporal has no such workflow).",
    ["reason"],
)
WATCH_START_FAILURES = Counter(
    "refundwatch_reconciler_start_failures",
    "Reconciler attempts to start a missing watch that failed (retried on the next pass).",
)
OVERDUE_FLAGGED = Counter(
    "refundwatch_reconciler_overdue_flagged",
    "Refunds flagged overdue: still open longer than the grace period after their deadline.",
)


def serve_process_metrics(host: str, port: int) -> None:
    """Serve the default registry on ``host:port`` from a daemon thread (scheduler process)."""
    start_http_server(port, addr=host)
