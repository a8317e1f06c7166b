"""The scheduler's jobs, each run under its lease so one instance at a time runs it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import structlog

from application.services import Services
from config.settings import Settings
from db.engine import SessionFactory
from notifier.base import Notifier
from notifier.twilio_notifier import TwilioNotifier
from observability.metrics import SCHEDULER_LAST_SUCCESS, SCHEDULER_RUN_SECONDS, SCHEDULER_RUNS
from scheduler.lease import acquire_lease, lease_holder, release_lease
from scheduler.prices import PriceBackfill, backfill_prices
from scheduler.reconcile import ReconcileResult, StillHolding, reconcile
from scheduler.report import DailyReport, ensure_day_over, previous_day, write_daily_report

__all__ = ["JOBS", "LeaseBusy", "SchedulerContext", "run_prices", "run_reconcile", "run_report"]

log = structlog.get_logger(__name__)

JOBS = ("reconcile", "report", "prices")
# The reconciler renews its lease after every chunk, so the TTL only has to outlast one chunk;
# it is also how long a crashed holder blocks the others.
RECONCILE_LEASE = timedelta(minutes=2)
REPORT_LEASE = timedelta(minutes=10)
PRICES_LEASE = timedelta(minutes=5)

T = TypeVar("T")


@dataclass(frozen=True)
class SchedulerContext:
    settings: Settings
    sessions: SessionFactory
    holder: str
    services: Services | None = None  # Temporal and policy: only the reconciler needs them


@dataclass(frozen=True)
class LeaseBusy:
    """The job was skipped: another instance holds its lease."""

    job: str
    holder: str | None


async def _leased(
    ctx: SchedulerContext,
    job: str,
    ttl: timedelta,
    body: Callable[[StillHolding], Awaitable[T]],
) -> T | LeaseBusy:
    try:
        async with ctx.sessions() as session:
            if not await acquire_lease(session, job, ctx.holder, ttl):
                current = await lease_holder(session, job)
                SCHEDULER_RUNS.labels(job, "skipped").inc()
                holder = current.holder if current else None
                log.info("job_skipped", job=job, reason="lease held elsewhere", lease_holder=holder)
                return LeaseBusy(job, holder)
    except Exception:
        SCHEDULER_RUNS.labels(job, "error").inc()
        log.exception("job_failed", job=job, stage="lease")
        raise

    async def still_holding() -> bool:
        async with ctx.sessions() as session:
            return await acquire_lease(session, job, ctx.holder, ttl)

    started = time.perf_counter()
    try:
        value = await body(still_holding)
    except Exception:
        SCHEDULER_RUNS.labels(job, "error").inc()
        log.exception("job_failed", job=job)
        raise
    finally:
        SCHEDULER_RUN_SECONDS.labels(job).observe(time.perf_counter() - started)
        try:
            async with ctx.sessions() as session:
                await release_lease(session, job, ctx.holder)
        except Exception as exc:  # it expires on its own; do not hide the job's own error
            log.warning("lease_release_failed", job=job, error=type(exc).__name__)
    SCHEDULER_RUNS.labels(job, "ok").inc()
    SCHEDULER_LAST_SUCCESS.labels(job).set_to_current_time()
    return value


async def run_reconcile(ctx: SchedulerContext) -> ReconcileResult | LeaseBusy:
    services = ctx.services
    if services is None:
        raise RuntimeError("the reconciler needs Services (Temporal client, policy)")
    grace = timedelta(seconds=ctx.settings.overdue_grace_s)

    async def body(still_holding: StillHolding) -> ReconcileResult:
        return await reconcile(services, overdue_grace=grace, still_holding=still_holding)

    return await _leased(ctx, "reconcile", RECONCILE_LEASE, body)


async def run_report(ctx: SchedulerContext, day: date | None = None) -> DailyReport | LeaseBusy:
    """Store the report for ``day`` (default: yesterday, UTC) unless it is stored already."""
    target = day or previous_day()
    ensure_day_over(target)  # a caller's mistake, not a job failure

    async def body(_still_holding: StillHolding) -> DailyReport:
        async with ctx.sessions() as session:
            return await write_daily_report(session, target)

    return await _leased(ctx, "report", REPORT_LEASE, body)


async def run_prices(
    ctx: SchedulerContext, notifier: Notifier | None = None
) -> PriceBackfill | LeaseBusy:
    """Record the provider's price of finished SMS and calls that have none yet."""

    async def body(_still_holding: StillHolding) -> PriceBackfill:
        client = notifier or TwilioNotifier.from_settings(ctx.settings)
        try:
            return await backfill_prices(ctx.sessions, client)
        finally:
            if notifier is None:
                await client.close()

    return await _leased(ctx, "prices", PRICES_LEASE, body)
