"""`refundwatch scheduler`: APScheduler runs the jobs until SIGTERM/SIGINT.

Start-up runs both jobs once (the report only writes a day that is missing), then the reconciler
every REFUNDWATCH_RECONCILE_EVERY and the report daily at REFUNDWATCH_REPORT_AT (UTC). On a stop
signal no new run starts, a run in progress gets ``DRAIN_SECONDS`` to finish, and its lease is
given back so another instance can take over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from application.services import build_services
from config.settings import Settings
from observability.metrics import serve_process_metrics
from scheduler.jobs import SchedulerContext, run_prices, run_reconcile, run_report
from scheduler.lease import new_holder_id

__all__ = ["DRAIN_SECONDS", "run_scheduler"]

log = structlog.get_logger(__name__)

DRAIN_SECONDS = 20.0  # below docker-compose's stop_grace_period (30 s)


class _InFlight:
    """Job runs in progress, so a stop can wait for them."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def track(self, job: Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            try:
                # Failures are logged and counted by the job wrapper; the schedule goes on.
                with contextlib.suppress(Exception):
                    await job()
            finally:
                self._tasks.discard(task)

        return run

    async def drain(self, grace_s: float) -> None:
        if not self._tasks:
            return
        log.info("scheduler_draining", runs=len(self._tasks), grace_s=grace_s)
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_scheduler(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    # APScheduler logs every run at INFO; our jobs log what they did.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    services = await build_services(settings)
    ctx = SchedulerContext(settings, services.sessions, new_holder_id(), services)
    stop = stop or _stop_event()
    if settings.metrics_port is not None:
        serve_process_metrics(settings.metrics_host, settings.metrics_port)
    in_flight = _InFlight()
    now = datetime.now(UTC)
    hour, minute = (int(part) for part in settings.report_at.split(":"))
    scheduler = AsyncIOScheduler(timezone=UTC)
    scheduler.add_job(
        in_flight.track(lambda: run_reconcile(ctx)),
        IntervalTrigger(seconds=settings.reconcile_every_s, timezone=UTC),
        id="reconcile",
        name="reconcile",
        next_run_time=now,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=settings.reconcile_every_s,
    )
    scheduler.add_job(
        in_flight.track(lambda: run_report(ctx)),
        CronTrigger(hour=hour, minute=minute, timezone=UTC),
        id="report",
        name="report",
        next_run_time=now,  # catch up on a day missed while no scheduler was running
        max_instances=1,
        coalesce=True,
        misfire_grace_time=6 * 3600,
    )
    scheduler.add_job(
        in_flight.track(lambda: run_prices(ctx)),
        IntervalTrigger(minutes=5, timezone=UTC),
        id="prices",
        name="prices",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    log.info(
        "scheduler_started",
        holder=ctx.holder,
        reconcile_every_s=settings.reconcile_every_s,
        overdue_grace_s=settings.overdue_grace_s,
        report_at_utc=settings.report_at,
        metrics_port=settings.metrics_port,
    )
    try:
        await stop.wait()
    finally:
        log.info("scheduler_stopping")
        scheduler.pause()
        await in_flight.drain(DRAIN_SECONDS)
        scheduler.shutdown(wait=False)
        await services.close()
        log.info("scheduler_stopped")
