"""Serve an ASGI app over real HTTP on a free loopback port, inside the running event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

__all__ = ["KEEP_ALIVE_S", "free_port", "serve_asgi"]

KEEP_ALIVE_S = 30


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def serve_asgi(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn until the block exits; yields its base URL."""
    port = port or free_port()
    # Idle connections are kept longer than clients keep them (httpx: 5 s, as uvicorn's own
    # default): otherwise a server closing one just as a client reuses it resets that request,
    # which a busy event loop makes frequent (the 150-refund fault batches did).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=KEEP_ALIVE_S,
        backlog=4096,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
