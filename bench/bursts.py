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
from datetime import datetime

from sqlalchemy import text
from sqlmodel import col, select

from bench.bare_workflow import BareTimerWorkflow
from bench.stack import BARE_TASK_QUEUE, BenchStack
from db.models import InAppNotice

__all__ = [
    "add_tuning_arguments",
    "bare_fired",
    "lateness",
    "notices",
    "start_bare_timers",
    "tuning_env",
]


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker tuning both sides run with (REFUNDWATCH_WORKER_*)."""
    parser.add_argument("--workflow-pollers", type=int, default=8)
    parser.add_argument("--activity-pollers", type=int, default=8)
    parser.add_argument("--sticky-cache", type=int, default=1000)
    parser.add_argument("--max-workflow-tasks", type=int, default=100)


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
