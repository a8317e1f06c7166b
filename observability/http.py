"""API side: request metrics middleware and the ``/metrics`` response."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.engine import SessionFactory
from observability.db_metrics import DatabaseMetrics
from observability.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS

__all__ = ["RequestMetrics", "metrics_response"]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _route(scope: Scope) -> str:
    """The route template (``/v1/refunds/{refund_id}``), never the raw path: refund ids and
    merchant ids would make one time series per refund."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestMetrics:
    """Pure ASGI middleware: counts and times every HTTP request by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = _route(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - started)


class _Both(Collector):
    def __init__(self, database: DatabaseMetrics) -> None:
        self._database = database

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self._database.collect()


async def metrics_response(database: DatabaseMetrics, sessions: SessionFactory) -> Response:
    """This process's metrics plus the database figures, in Prometheus text format."""
    await database.refresh(sessions)
    return Response(generate_latest(_Both(database)), media_type=CONTENT_TYPE_LATEST)
