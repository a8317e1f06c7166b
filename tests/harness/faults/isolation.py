"""Each fault test's own world, so that what a crash leaves behind stays with the test: a Twilio
sandbox (its fault rates and its log), settings on the test's own database, API port and task
queue, the platform's client, a batch that ends its leftover watches, and the worker child.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio.client import Client

from config.settings import Settings
from db.engine import SessionFactory
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PLATFORM_TOKEN
from tests.harness.faults.batch import Batch
from tests.harness.http_server import serve_asgi
from tests.harness.processes import Children
from twilio_sandbox import SandboxConfig
from twilio_sandbox import create_app as create_sandbox

__all__ = ["batch_on", "own_sandbox", "own_settings", "platform_client", "start_worker"]


@asynccontextmanager
async def own_sandbox(**config: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A Twilio sandbox of this test's own: its URL and a client for its control API."""
    # A higher call rate than Twilio's default 1 CPS, as the fault batches' settings pace at.
    config.setdefault("calls_per_second", 20)
    sandbox = SandboxConfig(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, **config)
    async with (
        serve_asgi(create_sandbox(sandbox)) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        yield url, client


def own_settings(
    settings: Settings, *, database_url: str, sandbox_url: str, api_port: int, **changes: Any
) -> Settings:
    """The session's settings on this test's own database, sandbox, API port and task queue."""
    update = {
        "database_url": database_url,
        "twilio_api_base_url": sandbox_url,
        "public_base_url": f"http://127.0.0.1:{api_port}",
        "temporal_task_queue": f"refundwatch-faults-{uuid.uuid4().hex[:6]}",
    }
    return settings.model_copy(update={**update, **changes})


def platform_client(base_url: str) -> httpx.AsyncClient:
    """An HTTP client for the API at ``base_url``, with the platform's token."""
    headers = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)


@asynccontextmanager
async def batch_on(
    settings: Settings,
    sandbox: httpx.AsyncClient,
    sessions: SessionFactory,
    temporal: Client,
    rng: random.Random,
) -> AsyncIterator[Batch]:
    """A batch played through the API at ``settings.public_base_url``, on a Temporal server
    other tests share: whatever watch a failure leaves running is ended on the way out."""
    async with platform_client(settings.public_base_url) as api:
        batch = Batch(api, sandbox, sessions, lambda: temporal, rng)
        try:
            yield batch
        finally:
            await batch.close_unfinished()


async def start_worker(children: Children) -> None:
    """Start the worker child and wait until it polls its task queue."""
    logged = children.log_size("worker")
    children.start_worker()
    await children.wait_log("worker", "worker_started", after=logged)
