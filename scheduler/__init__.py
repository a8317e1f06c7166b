"""The scheduler: reconcile missing watches and overdue refunds, write the daily loss report."""

from scheduler.jobs import JOBS, LeaseBusy, SchedulerContext, run_reconcile, run_report
from scheduler.lease import acquire_lease, lease_holder, new_holder_id, release_lease
from scheduler.reconcile import (
    ReconcileResult,
    flag_overdue_refunds,
    reconcile,
    start_missing_watches,
)
from scheduler.report import DailyReport, DayNotOver, previous_day, write_daily_report
from scheduler.runner import run_scheduler

__all__ = [
    "JOBS",
    "DailyReport",
    "DayNotOver",
    "LeaseBusy",
    "ReconcileResult",
    "SchedulerContext",
    "acquire_lease",
    "flag_overdue_refunds",
    "lease_holder",
    "new_holder_id",
    "previous_day",
    "reconcile",
    "release_lease",
    "run_reconcile",
    "run_report",
    "run_scheduler",
    "start_missing_watches",
    "write_daily_report",
]
