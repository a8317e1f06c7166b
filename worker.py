"""The Temporal worker: runs RefundWatchWorkflow and its activities. `refundwatch worker`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.call_times import CallTimeActivities
from activities.closing import ClosingActivities
from activities.lookups import LookupActivities
from activities.notices import NoticeActivities
from activities.platform_webhooks import OutboundActivities, OutboundConfig
from activities.records import RecordActivities
from activities.risk_feedback import RiskFeedbackActivities
from activities.sends import SendActivities, SendConfig
from config.logging import configure_logging
from config.settings import Settings, load_settings
from db.engine import make_engine, make_session_factory
from domain.action_links import link_key
from notifier.base import Notifier
from notifier.twilio_notifier import TwilioNotifier
from observability.temporal_runtime import sdk_runtime
from observability.worker_health import HealthInterceptor, WorkerHealth, serve_health
from pacing import Pacer, PacingConfig
from workflows.platform_webhooks import OutboundDeliveryWorkflow
from workflows.refund_watch import RefundWatchWorkflow

__all__ = ["build_worker", "main", "run_worker", "twilio_notifier"]

log = structlog.get_logger(__name__)


def twilio_notifier(settings: Settings) -> TwilioNotifier:
    return TwilioNotifier.from_settings(settings)


def _runner(settings: Settings) -> WorkflowRunner:
    """Temporal's sandbox, unless REFUNDWATCH_WORKER_SANDBOX=false (config/settings.py)."""
    return SandboxedWorkflowRunner() if settings.worker_sandbox else UnsandboxedWorkflowRunner()


@asynccontextmanager
async def build_worker(
    client: Client,
    settings: Settings,
    notifier: Notifier | None = None,
    *,
    health: WorkerHealth | None = None,
) -> AsyncIterator[Worker]:
    """A worker wired to the database and notifier, tuned by REFUNDWATCH_WORKER_* (its task
    completions counted into ``health``); clients are closed when the block exits."""
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    own_notifier = notifier is None
    notifier = notifier or twilio_notifier(settings)
    sessions = make_session_factory(engine)
    sends = SendActivities(
        sessions,
        notifier,
        SendConfig(
            public_base_url=settings.public_base_url,
            sms_per_merchant_per_hour=settings.sms_per_merchant_per_hour,
            settle_after_s=float(settings.send_settle_after_s),
            link_key=link_key(settings.merchant_token_secret.get_secret_value()),
            link_base_url=settings.link_base_url,
        ),
        pacer=Pacer(sessions, PacingConfig.from_settings(settings)),
    )
    outbound_config = OutboundConfig.from_settings(settings)
    webhook_http = outbound_config.http_client()
    records, feedback = RecordActivities(sessions), RiskFeedbackActivities(sessions)
    activities = [
        *sends.all(),
        *NoticeActivities(sessions).all(),
        *LookupActivities(sessions, notifier).all(),
        *records.all(),
        *CallTimeActivities(sessions).all(),
        *feedback.all(),
        *ClosingActivities(records, feedback).all(),
        *OutboundActivities(sessions, webhook_http, outbound_config).all(),
    ]
    try:
        yield Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[RefundWatchWorkflow, OutboundDeliveryWorkflow],
            activities=activities,
            # Tuning: config/settings.py (REFUNDWATCH_WORKER_*) says why each default.
            max_concurrent_workflow_task_polls=settings.worker_workflow_pollers,
            max_concurrent_activity_task_polls=settings.worker_activity_pollers,
            max_concurrent_workflow_tasks=settings.worker_max_workflow_tasks,
            max_concurrent_activities=settings.worker_max_activities,
            max_concurrent_local_activities=settings.worker_max_local_activities,
            max_cached_workflows=settings.worker_sticky_cache,
            workflow_runner=(
                SandboxedWorkflowRunner()
                if settings.worker_sandbox
                else UnsandboxedWorkflowRunner()
            ),
            interceptors=[HealthInterceptor(health)] if health is not None else [],
            graceful_shutdown_timeout=timedelta(seconds=10),
        )
    finally:
        await webhook_http.aclose()
        if own_notifier:
            await notifier.close()
        await engine.dispose()


async def run_worker(settings: Settings) -> None:
    client = await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        runtime=sdk_runtime(settings),  # SDK metrics on REFUNDWATCH_METRICS_PORT, when set
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    health = WorkerHealth(
        client, settings.temporal_task_queue, float(settings.worker_ready_window_s)
    )
    port = settings.worker_health_port
    runner = None if port is None else await serve_health(health, settings.worker_health_host, port)
    try:
        async with build_worker(client, settings, health=health) as worker, worker:
            health.running = True
            log.info(
                "worker_started",
                task_queue=settings.temporal_task_queue,
                metrics_port=settings.metrics_port,
                health_port=port,
                workflow_pollers=settings.worker_workflow_pollers,
                sticky_cache=settings.worker_sticky_cache,
            )
            await _until_stopped(stop, worker, health)
            log.info("worker_stopping")
            health.running = False
    finally:
        health.running = False
        if runner is not None:
            await runner.cleanup()
    log.info("worker_stopped")


async def _until_stopped(stop: asyncio.Event, worker: Worker, health: WorkerHealth) -> None:
    """Wait for SIGTERM/SIGINT; a worker that stops by itself (a fatal poll error) is not
    live any more, and the process ends so that its supervisor restarts it."""
    while not stop.is_set():
        if worker.is_shutdown:  # (is_running is False until its run task has started)
            health.running = False
            log.error("worker_stopped_unexpectedly")
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            continue


def main() -> None:
    settings = load_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
