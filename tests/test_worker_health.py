"""The worker's health endpoint (observability/worker_health.py) against the real dev server:
not live or ready before the worker runs; ready once Temporal lists its pollers; a completed
task shows; not ready when neither happened within the window; neither once it stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from observability.worker_health import WorkerHealth, serve_health
from platform_webhooks.types import OutboundDeliveryInput
from tests.harness.http_server import free_port
from tests.harness.processes import settings_env
from worker import build_worker
from workflows.platform_webhooks import OutboundDeliveryWorkflow


async def _wait_status(http: httpx.AsyncClient, path: str, status: int) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        response = await http.get(path)
        if response.status_code == status or loop.time() > deadline:
            return response
        await asyncio.sleep(0.3)


async def test_health_reflects_polling_and_completed_tasks(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = temporal_env.client
    queue = f"health-{uuid.uuid4().hex[:6]}"
    tuning = {
        "worker_workflow_pollers": 3,
        "worker_activity_pollers": 2,
        "worker_max_workflow_tasks": 20,
        "worker_sticky_cache": 50,
    }
    own = settings.model_copy(update={"temporal_task_queue": queue, **tuning})
    health = WorkerHealth(client, queue, ready_window_s=60)
    port = free_port()
    runner = await serve_health(health, "127.0.0.1", port)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.get("/livez")).status_code == 503
            before = await http.get("/readyz")
            assert before.status_code == 503
            assert before.json()["reason"] == "the worker is not running"
            async with build_worker(client, own, health=health) as worker, worker:
                health.running = True
                config = worker.config()  # the REFUNDWATCH_WORKER_* settings reach the worker
                assert config.get("max_concurrent_workflow_task_polls") == 3
                assert config.get("max_concurrent_activity_task_polls") == 2
                assert config.get("max_concurrent_workflow_tasks") == 20
                assert config.get("max_cached_workflows") == 50
                assert (await http.get("/livez")).status_code == 200
                ready = await _wait_status(http, "/readyz", 200)
                assert ready.status_code == 200, ready.text
                assert ready.json()["reason"] == "Temporal lists this worker's pollers"
                assert ready.json()["tasks_completed"] == 0
                # A workflow whose activity fails (no such event): a task completed all the same.
                handle = await client.start_workflow(
                    OutboundDeliveryWorkflow.run,
                    OutboundDeliveryInput(f"missing-{uuid.uuid4().hex[:6]}"),
                    id=f"health-{uuid.uuid4().hex[:6]}",
                    task_queue=queue,
                )
                with pytest.raises(WorkflowFailureError):
                    await handle.result()
                after = (await http.get("/readyz")).json()
                assert after["reason"] == "completed a task recently"
                assert after["tasks_completed"] >= 1
                health.running = False
            assert (await http.get("/livez")).status_code == 503
            assert (await http.get("/readyz")).status_code == 503
    finally:
        await runner.cleanup()


async def test_not_ready_when_nothing_happened_within_the_window(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    """A running worker whose last poll Temporal saw, and last task, are older than the window
    (the clock is moved on by an hour) is not ready: the reason says so."""
    client = temporal_env.client
    queue = f"health-stale-{uuid.uuid4().hex[:6]}"
    own = settings.model_copy(update={"temporal_task_queue": queue})
    fresh = WorkerHealth(client, queue, ready_window_s=30)
    stale = WorkerHealth(client, queue, ready_window_s=30, clock=lambda: time.time() + 3600)
    async with build_worker(client, own, health=fresh) as worker, worker:
        fresh.running = stale.running = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        ok, facts = await fresh.readiness()
        while not ok and loop.time() < deadline:
            await asyncio.sleep(0.5)
            fresh = WorkerHealth(client, queue, ready_window_s=30, running=True)
            ok, facts = await fresh.readiness()
        assert ok, facts
        stale_ok, stale_facts = await stale.readiness()
    assert not stale_ok
    assert "no task completed and no poll seen by Temporal" in stale_facts["reason"]


async def test_the_worker_command_serves_health_and_stops_on_sigterm(
    temporal_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    """`refundwatch worker` as operators run it: up, ready on its health port, still up a
    little later, and a clean exit on SIGTERM (then nothing answers on the port)."""
    port = free_port()
    own = settings.model_copy(
        update={
            "temporal_task_queue": f"health-cmd-{uuid.uuid4().hex[:6]}",
            "temporal_address": temporal_env.client.service_client.config.target_host,
            "worker_health_port": port,
        }
    )
    env = {**os.environ, **settings_env(own), "REFUNDWATCH_LOG_LEVEL": "warning"}
    log = (tmp_path / "worker.log").open("wb")
    child = subprocess.Popen(  # noqa: ASYNC220 (started once, then only polled)
        [sys.executable, "-m", "cli.main", "worker"], env=env, stdout=log, stderr=log
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 40
            ready = None
            while loop.time() < deadline and child.poll() is None:
                with contextlib.suppress(httpx.HTTPError):
                    ready = await http.get("/readyz")
                    if ready.status_code == 200:
                        break
                await asyncio.sleep(0.5)
            assert ready is not None, (tmp_path / "worker.log").read_text()[-2000:]
            assert ready.status_code == 200, ready.text
            await asyncio.sleep(3)
            assert child.poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            assert (await http.get("/livez")).status_code == 200
            child.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(child.wait, 30) == 0
            with pytest.raises(httpx.HTTPError):
                await http.get("/livez")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
