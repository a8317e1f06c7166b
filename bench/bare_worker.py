"""`python -m bench.bare_worker ADDRESS TASK_QUEUE`: the baselines' worker (bench/bare_workflow.py),
tuned by the same REFUNDWATCH_WORKER_* settings as refundwatch's own worker (the bench stack
gives both the same environment), so the baseline pays the same worker costs."""

from __future__ import annotations

import asyncio
import signal
import sys

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import BARE_STEP, BareTimerWorkflow, BareWorkflow
from config.settings import load_settings

FIRED_TABLE = "bench_bare_fired"


async def main(address: str, task_queue: str) -> None:
    settings = load_settings()
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
    async with pool.acquire() as conn:
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {FIRED_TABLE}"
            " (workflow_id text PRIMARY KEY, fired_at timestamptz NOT NULL)"
        )

    @activity.defn(name=BARE_STEP)
    async def bare_step(workflow_id: str) -> None:
        async with pool.acquire() as conn:
            await conn.execute(
                f"INSERT INTO {FIRED_TABLE} VALUES ($1, clock_timestamp())"  # noqa: S608
                " ON CONFLICT DO NOTHING",
                workflow_id,
            )

    client = await Client.connect(address)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow, BareTimerWorkflow],
        activities=[bare_step],
        max_concurrent_workflow_task_polls=settings.worker_workflow_pollers,
        max_concurrent_activity_task_polls=settings.worker_activity_pollers,
        max_concurrent_workflow_tasks=settings.worker_max_workflow_tasks,
        max_concurrent_activities=settings.worker_max_activities,
        max_cached_workflows=settings.worker_sticky_cache,
    ):
        await stop.wait()
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
