"""The Temporal worker: runs RefundWatchWorkflow and its activities. `refundwatch worker`."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from temporalio.client import Client
from temporalio.worker import Worker

from activities.lookups import LookupActivities
from activities.notices import NoticeActivities
from activities.platform_webhooks import OutboundActivities, OutboundConfig
from activities.records import RecordActivities
from activities.risk_feedback import RiskFeedbackActivities
from activities.sends import SendActivities, SendConfig
from config.logging import configure_logging
from config.settings import Settings, load_settings
from db.engine import make_engine, make_session_factory
from notifier.base import Notifier
from notifier.twilio_notifier import TwilioNotifier
from observability.temporal_runtime import sdk_runtime
from pacing import Pacer, PacingConfig
from workflows.platform_webhooks import OutboundDeliveryWorkflow
from workflows.refund_watch import RefundWatchWorkflow

__all__ = ["build_worker", "main", "run_worker", "twilio_notifier"]

log = structlog.get_logger(__name__)


def twilio_notifier(settings: Settings) -> TwilioNotifier:
    return TwilioNotifier.from_settings(settings)


@asynccontextmanager
async def build_worker(
    client: Client, settings: Settings, notifier: Notifier | None = None
) -> AsyncIterator[Worker]:
    """A worker wired to the database and notifier; clients are closed when the block exits."""
    engine = make_engine(settings.database_url)
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
        ),
        pacer=Pacer(sessions, PacingConfig.from_settings(settings)),
    )
    outbound_config = OutboundConfig.from_settings(settings)
    webhook_http = outbound_config.http_client()
    activities = [
        *sends.all(),
        *NoticeActivities(sessions).all(),
        *LookupActivities(sessions, notifier).all(),
        *RecordActivities(sessions).all(),
        *RiskFeedbackActivities(sessions).all(),
        *OutboundActivities(sessions, webhook_http, outbound_config).all(),
    ]
    try:
        yield Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[RefundWatchWorkflow, OutboundDeliveryWorkflow],
            activities=activities,
            # One poller caps first-task pickup near 55 workflows/s on the dev server.
            max_concurrent_workflow_task_polls=8,
            max_concurrent_activity_task_polls=8,
            # Sends waiting for the shared rate limit hold an activity slot each; with too few
            # slots the overflow would wait in Temporal's queue in arrival, not priority, order.
            max_concurrent_activities=1000,
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
    async with build_worker(client, settings) as worker, worker:
        log.info(
            "worker_started",
            task_queue=settings.temporal_task_queue,
            metrics_port=settings.metrics_port,
        )
        await stop.wait()
        log.info("worker_stopping")
    log.info("worker_stopped")


def main() -> None:
    settings = load_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
