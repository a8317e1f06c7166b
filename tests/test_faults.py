"""Faults: no refund is lost and nothing is sent twice when processes crash or Twilio misbehaves.

Each test runs a batch of escalations with short deadlines (tests/policy.yaml, in seconds) and
mixed merchant behaviour, breaks something in the middle, then checks what a user would check:

* every refund reached its correct outcome — ``resolved`` when the merchant answered and the
  platform (this test) resolved it before the deadline, ``timed_out`` with its loss otherwise;
  a merchant who pressed 1 and heard refundwatch's confirmation in time is never lost, and
  the crash tests' last merchants, called once the faults are over, are all saved;
* the Twilio sandbox's own log shows no SMS or call created twice for one idempotency key (the
  key travels in each StatusCallback URL as ``?key=``), and every SMS or call it created is
  known to refundwatch with its final status recorded exactly once.

Each test has a PostgreSQL database, a Twilio sandbox and a Temporal task queue of its own
(the restart test a dev server of its own too): the refunds a crash leaves open, the sandbox's
fault rates and its log stay with the test, and its database is dropped however it ends.

Sizes: ``REFUNDWATCH_FAULT_REFUNDS`` refunds per batch (default 40), seeded by
``REFUNDWATCH_FAULT_SEED`` (default 6; a failure message names the seed to rerun with);
``REFUNDWATCH_FAULT_KILLS`` worker kills in the worker-crash test (default 3).
"""

from __future__ import annotations

import asyncio
import random
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from application.services import build_services
from config.settings import Settings
from db.engine import SessionFactory, make_engine, make_session_factory
from notifier.twilio_notifier import TwilioNotifier
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.harness.database import fresh_database
from tests.harness.faults.batch import Batch, resolving
from tests.harness.faults.checks import (
    all_checks,
    assert_each_send_once,
    assert_faults_retried_and_final_errors_failed_over,
    assert_no_send_left_unsettled,
    assert_outcomes,
    assert_records,
    assert_refused_callbacks_recovered,
    read_provider_records,
)
from tests.harness.faults.isolation import (
    batch_on,
    own_sandbox,
    own_settings,
    platform_client,
    start_worker,
)
from tests.harness.faults.reach import write_reach_report
from tests.harness.faults.scenarios import FAULTY, KILLS, MIXED, SEED, SIZE, stretched
from tests.harness.http_server import free_port, serve_asgi
from tests.harness.processes import Children, TemporalPorts, settings_env
from twilio_sandbox import SandboxConfig
from twilio_sandbox import create_app as create_sandbox
from twilio_sandbox.faults import FaultPolicy
from worker import build_worker


# ---------------------------------------------------------------------- isolation
@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """A database of this test's own, dropped afterwards (with whatever a crash left open)."""
    async with fresh_database() as url:
        yield url


@pytest.fixture
async def db_sessions(own_database: str) -> AsyncIterator[SessionFactory]:
    engine = make_engine(own_database, pool_size=4)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------- the sandbox's faults
async def test_sandbox_injects_provider_faults_at_the_rates_set() -> None:
    config = SandboxConfig(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    async with serve_asgi(create_sandbox(config)) as url, httpx.AsyncClient(base_url=url) as http:
        policy = {"server_error_rate": 0.5, "rate_limit_rate": 0.5, "seed": 1}
        assert (await http.put("/sandbox/faults", json=policy)).status_code == 200
        form = {"To": "+8613900000001", "From": "+14155550000", "Body": "hi"}
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        codes: Counter[tuple[int, int]] = Counter()
        for _ in range(20):
            response = await http.post(path, data=form, auth=(ACCOUNT_SID, AUTH_TOKEN))
            codes[(response.status_code, response.json()["code"])] += 1
        assert set(codes) == {(500, 20500), (429, 20429)}
        state = (await http.get("/sandbox/faults")).json()
        assert sum(state["injected"].values()) == 20
        refused = await http.put("/sandbox/faults", json={"slow_rate": 0.6, "rate_limit_rate": 0.6})
        assert refused.status_code == 422
        assert (await http.put("/sandbox/faults", json={})).status_code == 200
        response = await http.post(path, data=form, auth=(ACCOUNT_SID, AUTH_TOKEN))
        assert response.status_code == 201
        log = (await http.get("/sandbox/log", params={"kind": "message.created"})).json()
        assert len(log) == 1, "a refused create creates nothing"


# ---------------------------------------------------------------------- worker crashes
async def test_worker_killed_mid_run_loses_nothing_and_sends_nothing_twice(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    own_database: str,
    db_sessions: SessionFactory,
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    api_port = free_port()
    # Twilio answering a create in about a second keeps sends in flight, so the kills cut some
    # of them off between the provider's answer and our record of it.
    slow = FaultPolicy(slow_rate=0.5, slow_seconds=1.0, seed=SEED)
    async with own_sandbox(faults=slow) as (sandbox_url, sandbox):
        own = own_settings(
            settings,
            database_url=own_database,
            sandbox_url=sandbox_url,
            api_port=api_port,
            temporal_address=temporal_env.client.service_client.config.target_host,
            # The product's default margin before an unanswered create counts as never sent
            # (the session's 2 s is for the quick tests). At 1,000 refunds this test's own
            # process (harness, API and sandbox in one event loop) falls seconds behind: on
            # 2026-12-02 two creates claimed in the same millisecond timed out and, 6 s after
            # their claims, were not in the sandbox's records yet and were sent again (2 keys
            # twice). Twilio's records do not lag behind our own load like that.
            send_settle_after_s=20,
        )
        services = await build_services(own, temporal=temporal_env.client)
        children = Children(tmp_path, settings_env(own))
        try:
            async with (
                batch_on(own, sandbox, db_sessions, temporal_env.client, rng) as batch,
                serve_asgi(create_app(own, services), port=api_port),
            ):
                await start_worker(children)
                await batch.submit(MIXED, SIZE, first_s=18, spread_s=stretched(12))
                async with resolving(batch):
                    for moment in sorted(rng.uniform(1, stretched(20)) for _ in range(KILLS)):
                        await asyncio.sleep(max(0.0, moment - batch.elapsed()))
                        children.kill("worker")  # kill -9: no graceful shutdown, cut off
                        await asyncio.sleep(rng.uniform(0.5, 3))
                        # Up again before the next kill, however slowly it starts.
                        await start_worker(children)
                    await batch.submit_last_wave()
                    outcomes = await batch.outcomes(timeout_s=stretched(120))
                assert children.kills == KILLS
                await write_reach_report(batch, "worker_killed")
                await all_checks(
                    lambda: assert_outcomes(batch, outcomes),
                    lambda: assert_records(batch, outcomes),
                    lambda: read_provider_records(own, db_sessions, "worker_killed"),
                    lambda: assert_each_send_once(batch),
                    lambda: assert_no_send_left_unsettled(batch),
                )
        finally:
            children.stop()
            await services.close()


# ---------------------------------------------------------------------- server and API restarts
async def test_temporal_server_and_api_restarted_mid_run_lose_nothing(
    settings: Settings, own_database: str, db_sessions: SessionFactory, tmp_path: Path
) -> None:
    rng = random.Random(SEED + 1)
    ports, api_port = TemporalPorts.free(), free_port()
    # Twilio's own defaults: a callback that meets the outage is tried once (or as our URLs'
    # connection overrides ask), then it is up to refundwatch to learn what it missed.
    async with own_sandbox() as (sandbox_url, sandbox):
        own = own_settings(
            settings,
            database_url=own_database,
            sandbox_url=sandbox_url,
            api_port=api_port,
            temporal_address=ports.address,
        )
        children = Children(tmp_path, settings_env(own))
        try:
            children.start_temporal(ports)
            client = await children.wait_temporal(ports)
            children.start_api(api_port)
            children.start_worker()
            await children.wait_http("api", f"http://127.0.0.1:{api_port}/readyz")
            async with platform_client(f"http://127.0.0.1:{api_port}") as api:
                batch = Batch(api, sandbox, db_sessions, lambda: client, rng)
                await batch.submit(MIXED, SIZE, first_s=18, spread_s=stretched(12))
                async with resolving(batch):
                    await asyncio.sleep(max(0.0, rng.uniform(3, 6) - batch.elapsed()))
                    children.kill("api")  # callbacks and webhooks fail while it is down
                    await asyncio.sleep(rng.uniform(2, 4))
                    children.start_api(api_port)
                    await children.wait_http("api", f"http://127.0.0.1:{api_port}/healthz")
                    await asyncio.sleep(max(0.0, rng.uniform(9, 13) - batch.elapsed()))
                    children.kill("temporal", signal.SIGTERM)  # stopped; its file DB stays
                    await asyncio.sleep(rng.uniform(2, 4))
                    children.start_temporal(ports)
                    await children.wait_http("temporal", f"http://127.0.0.1:{ports.ui}/")
                    await batch.submit_last_wave()
                    outcomes = await batch.outcomes(timeout_s=120)
                await assert_outcomes(batch, outcomes)
                await assert_records(batch, outcomes)
                await read_provider_records(own, db_sessions)
                await assert_each_send_once(batch)
                await assert_no_send_left_unsettled(batch)
                await assert_refused_callbacks_recovered(batch)
                assert children.running("worker"), "the worker must ride out a server restart"
        finally:
            children.stop()  # the dev server goes with its watches, finished or not


# ---------------------------------------------------------------------- provider faults
CLIENT_TIMEOUT_S = 2.0  # our Twilio client's request timeout in this test; slow answers exceed it


async def test_provider_faults_neither_lose_nor_repeat_sends_and_final_errors_fail_over(
    temporal_env: WorkflowEnvironment,
    settings: Settings,
    own_database: str,
    db_sessions: SessionFactory,
) -> None:
    rng = random.Random(SEED + 2)
    api_port = free_port()
    # Slow and lost answers leave creates ambiguous (the send went out, the answer did not come
    # back in time): each must be settled from the sandbox's records, never sent twice.
    faults = FaultPolicy(
        server_error_rate=0.15,
        rate_limit_rate=0.15,
        slow_rate=0.1,
        slow_seconds=CLIENT_TIMEOUT_S + 1.5,
        lost_response_rate=0.05,
        lost_response_hold_seconds=CLIENT_TIMEOUT_S + 1,
        seed=SEED,
    )
    async with own_sandbox(faults=faults) as (sandbox_url, sandbox):
        own = own_settings(
            settings, database_url=own_database, sandbox_url=sandbox_url, api_port=api_port
        )
        notifier = TwilioNotifier(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            from_number=own.twilio_from_number,
            api_base_url=sandbox_url,
            request_timeout_s=CLIENT_TIMEOUT_S,
        )
        services = await build_services(own, temporal=temporal_env.client)
        try:
            async with (
                batch_on(own, sandbox, db_sessions, temporal_env.client, rng) as batch,
                serve_asgi(create_app(own, services), port=api_port),
                build_worker(temporal_env.client, own, notifier) as worker,
                worker,
            ):
                await batch.submit(FAULTY, SIZE, first_s=18, spread_s=stretched(8))
                async with resolving(batch):
                    outcomes = await batch.outcomes(timeout_s=120)
                await write_reach_report(batch, "provider_faults")
                await assert_outcomes(batch, outcomes)
                await assert_records(batch, outcomes)
                await read_provider_records(own, db_sessions)
                await assert_each_send_once(batch)
                await assert_no_send_left_unsettled(batch)
                await assert_faults_retried_and_final_errors_failed_over(batch)
        finally:
            await notifier.close()
            await services.close()
