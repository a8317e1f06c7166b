"""Prometheus metrics: process counters, database figures read at scrape time, SDK metrics."""

from observability.db_metrics import DatabaseMetrics, DatabaseSnapshot, read_snapshot
from observability.http import RequestMetrics, metrics_response
from observability.metrics import serve_process_metrics
from observability.temporal_runtime import sdk_runtime

__all__ = [
    "DatabaseMetrics",
    "DatabaseSnapshot",
    "RequestMetrics",
    "metrics_response",
    "read_snapshot",
    "sdk_runtime",
    "serve_process_metrics",
]
