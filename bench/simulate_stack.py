"""The processes the simulation runs against: one Temporal dev server, and per workflow arm its
own scratch PostgreSQL database, Twilio sandbox (with the population's phone scripts), API and
worker on a task queue of its own — so the arms run side by side without seeing each other.

As in bench/stack.py: child processes started as an operator would (`refundwatch api`,
`refundwatch worker`, `python -m twilio_sandbox`), logs under the data directory, everything
stopped and the databases dropped on exit.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.stack import free_port
from db.engine import SessionFactory, make_engine, make_session_factory
from db.migrate import upgrade
from demo.processes import Stack

__all__ = [
    "ACCOUNT_SID",
    "AUTH_TOKEN",
    "FROM_NUMBER",
    "MERCHANT_SECRET",
    "PLATFORM_TOKEN",
    "ArmProcesses",
    "ArmSetup",
    "simulation_stack",
]

ADMIN_URL = os.environ.get("TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Credentials of this throw-away local stack only.
PLATFORM_TOKEN = "sim-platform-token-000001"  # noqa: S105
SUPPORT_TOKEN = "sim-support-token-0000001"  # noqa: S105
MERCHANT_SECRET = "sim-merchant-token-secret"  # noqa: S105
ACCOUNT_SID = "AC" + "5a" * 16
AUTH_TOKEN = "sim-sandbox-auth-token"  # noqa: S105
FROM_NUMBER = "+14155550000"


@dataclass(frozen=True)
class ArmSetup:
    name: str
    policy: Path
    scenario: Path
    calls_per_second: int
    sms_per_second: int
    sms_per_merchant_per_hour: int


@dataclass
class ArmProcesses:
    name: str
    api_url: str
    sandbox_url: str
    sessions: SessionFactory
    children: Stack


async def _admin(statement: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@asynccontextmanager
async def _database(tag: str) -> AsyncIterator[tuple[str, AsyncEngine]]:
    name = f"rw_sim_{tag}_{uuid.uuid4().hex[:8]}"
    await _admin(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    url = f"{base}/{name}"
    engine = make_engine(url, pool_size=5)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url, engine
    finally:
        await engine.dispose()
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def _children(stack: Stack) -> AsyncIterator[Stack]:
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


async def _start_arm(
    exits: AsyncExitStack, setup: ArmSetup, data_dir: Path, temporal_address: str
) -> ArmProcesses:
    database_url, engine = await exits.enter_async_context(_database(setup.name.replace("_", "")))
    api_port, sandbox_port = free_port(), free_port()
    api_url, sandbox_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{sandbox_port}"
    env = {
        "DATABASE_URL": database_url,
        "TEMPORAL_ADDRESS": temporal_address,
        "TEMPORAL_TASK_QUEUE": f"sim-{setup.name}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM_NUMBER": FROM_NUMBER,
        "TWILIO_API_BASE_URL": sandbox_url,
        "PUBLIC_BASE_URL": api_url,
        "REFUNDWATCH_POLICY": str(setup.policy),
        "REFUNDWATCH_PLATFORM_TOKENS": PLATFORM_TOKEN,
        "REFUNDWATCH_SUPPORT_TOKENS": SUPPORT_TOKEN,
        "REFUNDWATCH_MERCHANT_TOKEN_SECRET": MERCHANT_SECRET,
        "REFUNDWATCH_CALLS_PER_SECOND": str(setup.calls_per_second),
        "REFUNDWATCH_SMS_PER_SECOND": str(setup.sms_per_second),
        "REFUNDWATCH_SMS_PER_MERCHANT_PER_HOUR": str(setup.sms_per_merchant_per_hour),
        "REFUNDWATCH_LOG_FORMAT": "json",
        "REFUNDWATCH_LOG_LEVEL": "warning",
    }
    stack = await exits.enter_async_context(_children(Stack(data_dir / setup.name, env)))
    py = sys.executable
    stack.start(
        "sandbox",
        [py, "-m", "twilio_sandbox", "--port", str(sandbox_port),
         "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN,
         "--scenario", str(setup.scenario), "--inbound-sms-url", f"{api_url}/twilio/sms",
         "--calls-per-second", str(setup.calls_per_second), "--log-level", "warning"],
    )  # fmt: skip
    stack.start("api", [py, "-m", "cli.main", "api", "--port", str(api_port)])
    stack.start("worker", [py, "-m", "cli.main", "worker"])
    return ArmProcesses(setup.name, api_url, sandbox_url, make_session_factory(engine), stack)


@asynccontextmanager
async def simulation_stack(
    arms: list[ArmSetup], data_dir: Path
) -> AsyncIterator[Mapping[str, ArmProcesses]]:
    """Start Temporal and every arm's processes (logs under ``data_dir``); yield them once
    every API is ready; stop them all and drop the databases on the way out."""
    async with AsyncExitStack() as exits:
        temporal = await exits.enter_async_context(_children(Stack(data_dir, {})))
        temporal_port, ui_port = free_port(), free_port()
        temporal.start_temporal(temporal_port, ui_port)
        await temporal.wait_http(f"http://127.0.0.1:{ui_port}/")
        address = f"127.0.0.1:{temporal_port}"
        started = {setup.name: await _start_arm(exits, setup, data_dir, address) for setup in arms}
        for arm in started.values():
            await arm.children.wait_http(f"{arm.sandbox_url}/sandbox/calls")
            await arm.children.wait_http(f"{arm.api_url}/readyz")
        yield started
