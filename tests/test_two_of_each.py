"""Two API processes and two workers share one deployment: refunds taken in through both APIs,
watches run by both workers (their identities in the histories), every outcome right, the
records complete, and no SMS or call created twice on the sandbox (docs/operations.md,
"Beyond one machine")."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from db.engine import SessionFactory, make_engine, make_session_factory
from tests.harness.database import fresh_database
from tests.harness.faults.batch import Batch, resolving
from tests.harness.faults.checks import assert_each_send_once, assert_outcomes, assert_records
from tests.harness.faults.isolation import own_sandbox, own_settings, platform_client
from tests.harness.faults.scenarios import MIXED, SEED
from tests.harness.http_server import free_port
from tests.harness.processes import Children, settings_env
from workflows.ids import workflow_id_for

PER_API = 8


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def db_sessions(own_database: str) -> AsyncIterator[SessionFactory]:
    engine = make_engine(own_database, pool_size=4)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


async def test_two_apis_and_two_workers_share_the_load_and_send_nothing_twice(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    own_database: str,
    db_sessions: SessionFactory,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    ports = [free_port(), free_port()]
    async with own_sandbox() as (sandbox_url, sandbox):
        # Twilio calls back one URL (a load balancer in production): the first API here.
        own = own_settings(
            settings,
            database_url=own_database,
            sandbox_url=sandbox_url,
            api_port=ports[0],
            temporal_address=temporal_env.client.service_client.config.target_host,
        )
        children = Children(tmp_path, settings_env(own))
        try:
            for index, port in enumerate(ports):
                children.start_api(port, name=f"api{index}")
            for index in range(2):
                children.start_worker(f"worker{index}")
            for index, port in enumerate(ports):
                await children.wait_http(f"api{index}", f"http://127.0.0.1:{port}/readyz")
            for index in range(2):
                await children.wait_log(f"worker{index}", "worker_started")
            pids = {children.process(f"worker{index}").pid for index in range(2)}
            async with (
                platform_client(f"http://127.0.0.1:{ports[0]}") as api0,
                platform_client(f"http://127.0.0.1:{ports[1]}") as api1,
            ):
                client = temporal_env.client
                first = Batch(api0, sandbox, db_sessions, lambda: client, rng)
                second = Batch(api1, sandbox, db_sessions, lambda: client, rng)
                try:
                    await first.submit(MIXED, PER_API, first_s=16, spread_s=6)
                    await second.submit(MIXED, PER_API, first_s=16, spread_s=6)
                    first.watches.update(second.watches)  # one batch to check from here on
                    async with resolving(first):
                        outcomes = await first.outcomes(timeout_s=150)
                    await assert_outcomes(first, outcomes)
                    await assert_records(first, outcomes)
                    await assert_each_send_once(first)
                    workers = await _workers_that_ran(temporal_env, list(outcomes))
                finally:
                    await first.close_unfinished()
        finally:
            children.stop()
    # Both workers took tasks (their identity is pid@host), and nothing else did.
    ran = {int(identity.split("@", 1)[0]) for identity in workers}
    assert ran == pids, f"workers {pids}, tasks taken by {workers}"


async def _workers_that_ran(temporal_env: WorkflowEnvironment, refund_ids: list[str]) -> set[str]:
    started = (
        EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    )
    identities: set[str] = set()
    for refund_id in refund_ids:
        handle = temporal_env.client.get_workflow_handle(workflow_id_for(refund_id))
        history = await handle.fetch_history()
        for event in history.events:
            if event.event_type == started[0]:
                identities.add(event.activity_task_started_event_attributes.identity)
            elif event.event_type == started[1]:
                identities.add(event.workflow_task_started_event_attributes.identity)
    return {identity for identity in identities if identity}
