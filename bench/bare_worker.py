"""`python -m bench.bare_worker ADDRESS TASK_QUEUE`: a worker for BareWorkflow only, set up
like refundwatch's own worker (same pollers), so the baseline pays the same worker costs."""

from __future__ import annotations

import asyncio
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare_workflow import BareWorkflow


async def main(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[BareWorkflow],
        max_concurrent_workflow_task_polls=8,
    ):
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
