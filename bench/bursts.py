"""What the timer and capacity benchmarks share: bare timers started beside refundwatch's
watches on the same dev server, when each side's step actually ran, and the lateness of each.

refundwatch's step has run when its in-app notice row exists (``in_app_notices.created_at``);
a bare timer's when its one activity wrote ``bench_bare_fired`` (bench/bare_worker.py). Both
are written by an activity on the same PostgreSQL database, after the timer fired.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlmodel import col, select
from temporalio.api.enums.v1 import EventType

from bench.bare_workflow import BareTimerWorkflow
from bench.report import summary
from bench.stack import BARE_TASK_QUEUE, BenchStack
from db.models import InAppNotice

__all__ = [
    "add_tuning_arguments",
    "bare_fired",
    "lateness",
    "notices",
    "start_bare_timers",
    "tuning_env",
    "where_late",
]


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker tuning both sides run with (REFUNDWATCH_WORKER_*)."""
    parser.add_argument("--workflow-pollers", type=int, default=8)
    parser.add_argument("--activity-pollers", type=int, default=8)
    parser.add_argument("--sticky-cache", type=int, default=1000)
    parser.add_argument("--max-workflow-tasks", type=int, default=100)  # the worker's


def tuning_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        "REFUNDWATCH_WORKER_WORKFLOW_POLLERS": str(args.workflow_pollers),
        "REFUNDWATCH_WORKER_ACTIVITY_POLLERS": str(args.activity_pollers),
        "REFUNDWATCH_WORKER_STICKY_CACHE": str(args.sticky_cache),
        "REFUNDWATCH_WORKER_MAX_WORKFLOW_TASKS": str(args.max_workflow_tasks),
    }


async def start_bare_timers(
    stack: BenchStack, prefix: str, due: Sequence[datetime], *, concurrency: int = 48
) -> list[str]:
    """One BareTimerWorkflow per due time (ids ``bare-<prefix>-<n>``); returns the ids."""
    ids = [f"bare-{prefix}-{i:06d}" for i in range(len(due))]
    gate = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str, at: datetime) -> None:
        async with gate:
            await stack.temporal.start_workflow(
                BareTimerWorkflow.run, at.isoformat(), id=workflow_id, task_queue=BARE_TASK_QUEUE
            )

    await asyncio.gather(*(one(w, d) for w, d in zip(ids, due, strict=True)))
    return ids


async def bare_fired(stack: BenchStack, prefix: str) -> dict[str, datetime]:
    async with stack.sessions() as session:
        rows = await session.execute(
            text("SELECT workflow_id, fired_at FROM bench_bare_fired WHERE workflow_id LIKE :p"),
            {"p": f"bare-{prefix}-%"},
        )
        return {workflow_id: at for workflow_id, at in rows.all()}


async def notices(stack: BenchStack, prefix: str) -> dict[str, datetime]:
    async with stack.sessions() as session:
        statement = select(InAppNotice.refund_id, InAppNotice.created_at).where(
            col(InAppNotice.refund_id).startswith(f"R-{prefix}-")
        )
        return {refund_id: at for refund_id, at in (await session.exec(statement)).all()}


def lateness(
    ids: Sequence[str], due: Sequence[datetime], ran: dict[str, datetime]
) -> tuple[list[float], int]:
    """Seconds late of each step that ran, and how many did not run."""
    late = [(ran[i] - d).total_seconds() for i, d in zip(ids, due, strict=True) if i in ran]
    return late, len(ids) - len(late)


async def where_late(
    stack: BenchStack, sample: list[tuple[str, datetime]]
) -> dict[str, dict[str, float]]:
    """Where a step's lateness comes from, from a sample of histories: the timer firing late
    (server), the workflow task it brings waiting for a worker (worker busy), and that task
    running (the step's local activities: the notice and its bookkeeping)."""
    fired, queued, running = [], [], []
    kinds = EventType
    for refund_id, due in sample:
        history = await stack.temporal.get_workflow_handle(f"refund-{refund_id}").fetch_history()
        events = list(history.events)
        timer = next((e for e in events if e.event_type == kinds.EVENT_TYPE_TIMER_FIRED), None)
        if timer is None:
            continue
        fired.append((timer.event_time.ToDatetime(UTC) - due).total_seconds())
        after = [e for e in events if e.event_id > timer.event_id]
        times = {}
        for kind in (
            kinds.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
            kinds.EVENT_TYPE_WORKFLOW_TASK_STARTED,
            kinds.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        ):
            event = next((e for e in after if e.event_type == kind), None)
            if event is not None:
                times[kind] = event.event_time.ToDatetime(UTC)
        if len(times) < 3:
            continue
        scheduled, started, completed = (times[k] for k in sorted(times))
        queued.append((started - scheduled).total_seconds())
        running.append((completed - started).total_seconds())
    return {
        "timer fired after due": summary(fired),
        "its workflow task waited for a worker": summary(queued),
        "its workflow task ran (notice + bookkeeping)": summary(running),
    }
