"""The system under benchmark, as an operator would run it on one machine.

Child processes (demo.processes.Stack): the Temporal dev server on a file database with the
SQLite pragmas from DESIGN.md (WAL, synchronous=normal) and our search attributes, the Twilio
sandbox, refundwatch's API (one or more processes) and worker, and optionally the baseline's
worker (bench.bare_worker). A scratch PostgreSQL database is created and dropped per run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client

from db.engine import SessionFactory, make_engine, make_session_factory
from db.migrate import upgrade
from demo.payloads import merchant_body
from demo.processes import Stack, port_free

__all__ = [
    "PLATFORM_TOKEN",
    "SUPPORT_TOKEN",
    "BenchStack",
    "bench_stack",
    "create_merchants",
    "free_port",
]

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Credentials of this throw-away local stack only.
PLATFORM_TOKEN = "bench-platform-token-0001"  # noqa: S105
SUPPORT_TOKEN = "bench-support-token-00001"  # noqa: S105
ACCOUNT_SID = "AC" + "be" * 16
AUTH_TOKEN = "bench-sandbox-auth-token"  # noqa: S105
TASK_QUEUE = "refundwatch"
BARE_TASK_QUEUE = "bench-bare"
_ports = itertools.count(21000 + os.getpid() % 2000 * 10)


def free_port() -> int:
    while True:
        port = next(_ports)
        if port_free(port):
            return port


@dataclass
class BenchStack:
    children: Stack
    temporal: Client
    temporal_address: str
    database_url: str
    sessions: SessionFactory
    api_urls: list[str]
    sandbox_url: str
    env: dict[str, str]
    _next_api: itertools.cycle[str] = field(init=False)

    def __post_init__(self) -> None:
        self._next_api = itertools.cycle(self.api_urls)

    @property
    def public_base_url(self) -> str:
        return self.api_urls[0]

    def next_api(self) -> str:
        """Round-robin over the API processes, as a load balancer would."""
        return next(self._next_api)

    def pid(self, name: str) -> int:
        return self.children.processes[name].pid

    def platform(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {PLATFORM_TOKEN}"}


async def _scratch_database() -> tuple[str, str]:
    name = f"rw_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return name, f"{base}/{name}"


async def _drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


async def _connect(address: str, stack: Stack, timeout_s: float = 60) -> Client:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout_s
    while True:
        stack.check_alive()
        try:
            return await Client.connect(address)
        except RuntimeError:
            if loop.time() > end:
                raise
            await asyncio.sleep(0.3)


@asynccontextmanager
async def bench_stack(
    *,
    policy: Path,
    api_processes: int = 1,
    worker: bool = True,
    workers: int = 1,
    bare_worker: bool = False,
    keep: bool = False,
    env_overrides: dict[str, str] | None = None,
    sandbox_cps: int = 1,
) -> AsyncIterator[BenchStack]:
    """Start everything, yield it, stop it and drop the scratch database (unless ``keep``).
    ``env_overrides`` (e.g. REFUNDWATCH_WORKER_* tuning) reach every process, the baseline's
    worker too; ``sandbox_cps`` is the sandbox account's calls per second (Twilio's 1)."""
    data_dir = Path(tempfile.mkdtemp(prefix="refundwatch-bench-"))
    db_name, database_url = await _scratch_database()
    await asyncio.to_thread(upgrade, database_url)
    temporal_port, ui_port, sandbox_port = free_port(), free_port(), free_port()
    api_ports = [free_port() for _ in range(api_processes)]
    api_urls = [f"http://127.0.0.1:{port}" for port in api_ports]
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    address = f"127.0.0.1:{temporal_port}"
    env = {
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_TASK_QUEUE": TASK_QUEUE,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": "+14155550000",
        "TWILIO_API_BASE_URL": sandbox_url,
        "PUBLIC_BASE_URL": api_urls[0],
        "REFUNDWATCH_POLICY": str(policy),
        "REFUNDWATCH_PLATFORM_TOKENS": PLATFORM_TOKEN,
        "REFUNDWATCH_SUPPORT_TOKENS": SUPPORT_TOKEN,
        "REFUNDWATCH_MERCHANT_TOKEN_SECRET": "bench-merchant-token-secret",
        "REFUNDWATCH_LOG_FORMAT": "json",
        "REFUNDWATCH_LOG_LEVEL": "warning",  # a benchmark measures the work, not the logging
        **(env_overrides or {}),
    }
    stack = Stack(data_dir=data_dir, env=env)
    engine = make_engine(database_url, pool_size=20)
    py = sys.executable
    try:
        stack.start_temporal(temporal_port, ui_port)
        await stack.wait_http(f"http://127.0.0.1:{ui_port}/")
        client = await _connect(address, stack)
        stack.start(
            "sandbox",
            [py, "-m", "twilio_sandbox", "--port", str(sandbox_port),
             "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN, "--log-level", "warning",
             "--calls-per-second", str(sandbox_cps)],
        )  # fmt: skip
        for index, port in enumerate(api_ports):
            stack.start(f"api{index}", [py, "-m", "cli.main", "api", "--port", str(port)])
        for index in range(workers if worker else 0):
            stack.start(
                "worker" if index == 0 else f"worker{index}", [py, "-m", "cli.main", "worker"]
            )
        if bare_worker:
            stack.start("bare_worker", [py, "-m", "bench.bare_worker", address, BARE_TASK_QUEUE])
        await stack.wait_http(f"{sandbox_url}/sandbox/calls")
        for url in api_urls:
            await stack.wait_http(f"{url}/readyz")
        yield BenchStack(
            children=stack,
            temporal=client,
            temporal_address=address,
            database_url=database_url,
            sessions=make_session_factory(engine),
            api_urls=api_urls,
            sandbox_url=sandbox_url,
            env=env,
        )
    finally:
        stack.stop()
        await engine.dispose()
        if not keep:
            await _drop_database(db_name)
            shutil.rmtree(data_dir, ignore_errors=True)


async def create_merchants(stack: BenchStack, count: int) -> list[str]:
    """Merchants with one contact each, through the API."""
    ids = [f"m-bench-{i:05d}" for i in range(count)]
    async with httpx.AsyncClient(headers=stack.platform(), timeout=60) as http:
        for i, merchant_id in enumerate(ids):
            response = await http.post(
                f"{stack.next_api()}/v1/merchants",
                json=merchant_body(
                    merchant_id,
                    [f"+86139{i:08d}"],
                    name=f"Bench Merchant {i}",
                    contact_names=["Bench Contact"],
                ),
            )
            response.raise_for_status()
    return ids
