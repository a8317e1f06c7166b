"""The Temporal SDK's own metrics (task slots, poll and schedule-to-start latencies, activity
failures …) served by the SDK's Prometheus exporter on REFUNDWATCH_METRICS_PORT."""

from __future__ import annotations

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from config.settings import Settings

__all__ = ["sdk_runtime"]


def sdk_runtime(settings: Settings, *, service: str = "worker") -> Runtime | None:
    """A runtime exporting SDK metrics, or None (the default runtime) when no port is set."""
    if settings.metrics_port is None:
        return None
    return Runtime(
        telemetry=TelemetryConfig(
            # The SDK's default names and units (counters without _total, latencies in ms) are
            # what Temporal's published core-SDK Grafana dashboard expects.
            metrics=PrometheusConfig(
                bind_address=f"{settings.metrics_host}:{settings.metrics_port}"
            ),
            global_tags={"service": f"refundwatch-{service}"},
        )
    )
