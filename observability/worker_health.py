"""The worker's own health endpoint: is it polling Temporal and completing tasks?

A Temporal worker opens no port of its own, so a deploy whose workers cannot reach the server
(or whose pollers died) goes unnoticed until watches are late. With
``REFUNDWATCH_WORKER_HEALTH_PORT`` set, the worker process serves:

- ``GET /livez``: 200 while the worker runs (its pollers have not stopped on a fatal error and
  the process's event loop answers), else 503: restart the process.
- ``GET /readyz``: 200 when, within ``REFUNDWATCH_WORKER_READY_WINDOW``, this worker completed
  an activity task, or Temporal itself lists this worker's identity among the task queue's
  pollers (``DescribeTaskQueue``: the server's word that our long polls arrive). Otherwise 503
  with the reason. An idle worker stays ready: its long polls (up to a minute each) keep it
  listed.

Both answer JSON (``{"ok": ..., "reason": ..., ...}``) and need no token: keep the port on the
internal network, like the metrics port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiohttp import web
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

__all__ = ["HealthInterceptor", "WorkerHealth", "serve_health"]

_QUEUE_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
_DESCRIBE_EVERY_S = 5.0  # at most one DescribeTaskQueue per this many seconds


@dataclass
class WorkerHealth:
    """What the endpoint reports: set ``running`` from the worker, count completions through
    :class:`HealthInterceptor`, and ask :meth:`readiness`."""

    client: Client
    task_queue: str
    ready_window_s: float
    clock: Callable[[], float] = time.time
    running: bool = False
    last_task_at: float | None = None
    tasks_completed: int = 0
    _pollers_seen_at: float | None = field(default=None, init=False)
    _described_at: float | None = field(default=None, init=False)

    def task_completed(self) -> None:
        self.last_task_at = self.clock()
        self.tasks_completed += 1

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        if not self.running:
            return False, {"reason": "the worker is not running"}
        return True, {"reason": "the worker is running"}

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        now = self.clock()
        facts: dict[str, Any] = {"tasks_completed": self.tasks_completed}
        if not self.running:
            return False, {**facts, "reason": "the worker is not running"}
        if self.last_task_at is not None and now - self.last_task_at <= self.ready_window_s:
            facts["last_task_s_ago"] = round(now - self.last_task_at, 3)
            return True, {**facts, "reason": "completed a task recently"}
        seen = await self._pollers_seen(now)
        if seen is not None and now - seen <= self.ready_window_s:
            facts["pollers_seen_s_ago"] = round(max(0.0, now - seen), 3)
            return True, {**facts, "reason": "Temporal lists this worker's pollers"}
        window = f"{self.ready_window_s:g} s"
        return False, {
            **facts,
            "reason": f"no task completed and no poll seen by Temporal in {window}",
        }

    async def _pollers_seen(self, now: float) -> float | None:
        """When Temporal last saw a poll from this worker on either of its task queues."""
        if self._described_at is not None and now - self._described_at < _DESCRIBE_EVERY_S:
            return self._pollers_seen_at
        self._described_at = now
        try:
            for kind in _QUEUE_TYPES:
                answer = await self.client.workflow_service.describe_task_queue(
                    DescribeTaskQueueRequest(
                        namespace=self.client.namespace,
                        task_queue=TaskQueue(name=self.task_queue),
                        task_queue_type=kind,
                    ),
                    timeout=timedelta(seconds=3),
                )
                for poller in answer.pollers:
                    if poller.identity == self.client.identity:
                        at = poller.last_access_time.seconds + poller.last_access_time.nanos / 1e9
                        if self._pollers_seen_at is None or at > self._pollers_seen_at:
                            self._pollers_seen_at = at
        except Exception:  # the server unreachable is exactly "not ready"
            return None
        return self._pollers_seen_at


class HealthInterceptor(Interceptor):
    """Counts every finished activity task (success or failure: the worker did its work)."""

    def __init__(self, health: WorkerHealth) -> None:
        self._health = health

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CountingActivities(next, self._health)


class _CountingActivities(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, health: WorkerHealth) -> None:
        super().__init__(next)
        self._health = health

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        finally:
            self._health.task_completed()


async def serve_health(health: WorkerHealth, host: str, port: int) -> web.AppRunner:
    """Serve /livez and /readyz on ``host:port`` in this event loop; clean up the runner."""

    async def livez(_: web.Request) -> web.Response:
        ok, facts = health.liveness()
        return web.json_response({"ok": ok, **facts}, status=200 if ok else 503)

    async def readyz(_: web.Request) -> web.Response:
        ok, facts = await health.readiness()
        return web.json_response({"ok": ok, **facts}, status=200 if ok else 503)

    app = web.Application()
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
