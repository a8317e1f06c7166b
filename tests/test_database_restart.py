"""PostgreSQL restarted mid-run (issue 15): a cluster of the test's own (tests/harness/
own_postgres.py, never the machine's service) is stopped and started twice while a batch of
escalations runs through the API, the worker and the Twilio sandbox, and a prober keeps asking.

What a user would check:

* every answer the platform, support and Twilio got was an answer: 2xx/4xx as usual, or 503
  with ``Retry-After`` while the database was away; never a bare 500, never a connection cut
  off without one; the voice script answered TwiML (an apology and a re-ask) during the outage;
* no refund was lost: each reached its correct outcome, database and Temporal agree, the loss
  ledger holds each timeout once (the fault harness's checks, tests/harness/faults/checks.py);
* nothing was sent twice: the sandbox created no SMS or call twice for one idempotency key.

Size: ``REFUNDWATCH_RESTART_REFUNDS`` refunds (default 24), seed ``REFUNDWATCH_FAULT_SEED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment
from twilio.request_validator import RequestValidator

from api.app import create_app
from application.services import build_services
from config.settings import Settings
from db.engine import make_engine, make_session_factory
from tests.conftest import PLATFORM_TOKEN, SUPPORT_TOKEN
from tests.harness.database import fresh_database
from tests.harness.faults.batch import Batch, resolving
from tests.harness.faults.checks import (
    assert_each_send_once,
    assert_no_send_left_unsettled,
    assert_outcomes,
    assert_records,
    read_provider_records,
)
from tests.harness.faults.isolation import own_sandbox, own_settings
from tests.harness.faults.scenarios import MIXED, SEED
from tests.harness.http_server import free_port, serve_asgi
from tests.harness.own_postgres import OwnCluster, own_cluster
from worker import build_worker

SIZE = int(os.environ.get("REFUNDWATCH_RESTART_REFUNDS", "24"))


@dataclass
class Answers:
    """Every HTTP answer the API gave in the test, and every request that got none."""

    seen: Counter[tuple[str, int]] = field(default_factory=Counter)
    without_retry_after: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    spoken_during_outage: int = 0

    async def record(self, response: httpx.Response) -> None:
        path = response.request.url.path
        self.seen[
            (path if not path.startswith("/v1/refunds/") else "/v1/refunds/…", response.status_code)
        ] += 1
        if response.status_code == 503 and "retry-after" not in response.headers:
            self.without_retry_after.append(path)

    def statuses(self) -> Counter[int]:
        counted: Counter[int] = Counter()
        for (_, status), n in self.seen.items():
            counted[status] += n
        return counted


async def _probe(
    base_url: str, settings: Settings, batch: Batch, answers: Answers, stop: asyncio.Event
) -> None:
    """Support reads, a platform's intake retry and a Twilio TwiML fetch, over and over."""
    hooks = {"response": [answers.record]}
    token = settings.twilio_auth_token.get_secret_value()
    path = "/twilio/voice?key=refund-R-probe%3Acall%3Ac1%3Aa1&refund=R-probe&lang=en"
    signature = RequestValidator(token).compute_signature(settings.public_base_url + path, {})
    async with httpx.AsyncClient(base_url=base_url, timeout=30, event_hooks=hooks) as http:
        while not stop.is_set():
            refund_id = next(iter(batch.watches), None)
            requests = [
                ("GET", "/readyz", {}, None),
                ("POST", path, {"X-Twilio-Signature": signature}, None),
            ]
            if refund_id is not None:
                support = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}
                requests.append(("GET", f"/v1/refunds/{refund_id}", support, None))
                requests.append(("GET", "/v1/support/at-risk", support, None))
            for method, url, headers, body in requests:
                try:
                    response = await http.request(method, url, headers=headers, json=body)
                except httpx.TransportError as err:
                    answers.unanswered.append(f"{method} {url}: {type(err).__name__}")
                    continue
                if url.startswith("/twilio/voice") and "<Redirect" in response.text:
                    answers.spoken_during_outage += 1
            await asyncio.sleep(0.2)


async def _restart(cluster: OwnCluster, down_s: float) -> None:
    await cluster.stop("fast")  # open connections are cut off, as in a maintenance restart
    await asyncio.sleep(down_s)
    await cluster.start()


async def test_postgresql_restarted_mid_run_answers_503_loses_nothing_sends_nothing_twice(
    temporal_env: WorkflowEnvironment, settings: Settings
) -> None:
    rng = random.Random(SEED + 3)
    api_port = free_port()
    answers = Answers()
    async with (
        own_cluster() as cluster,
        fresh_database(admin_url=cluster.admin_url) as database_url,
        own_sandbox() as (sandbox_url, sandbox),
    ):
        own = own_settings(
            settings, database_url=database_url, sandbox_url=sandbox_url, api_port=api_port
        )
        services = await build_services(own, temporal=temporal_env.client)
        engine = make_engine(database_url, pool_size=4)
        sessions = make_session_factory(engine)
        base_url = f"http://127.0.0.1:{api_port}"
        platform = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
        hooks = {"response": [answers.record]}
        batch: Batch | None = None
        try:
            async with (
                serve_asgi(create_app(own, services), port=api_port),
                build_worker(temporal_env.client, own) as worker,
                worker,
                httpx.AsyncClient(
                    base_url=base_url, headers=platform, timeout=30, event_hooks=hooks
                ) as api,
            ):
                batch = Batch(api, sandbox, sessions, lambda: temporal_env.client, rng)
                await batch.submit(MIXED, SIZE, first_s=20, spread_s=10)
                stop = asyncio.Event()
                prober = asyncio.create_task(_probe(base_url, own, batch, answers, stop))
                async with resolving(batch):
                    for at in (3.0, 11.0):
                        await asyncio.sleep(max(0.0, at - batch.elapsed()))
                        await _restart(cluster, down_s=rng.uniform(2.5, 4))
                    await asyncio.sleep(2)
                    stop.set()
                    await prober
                    await batch.submit_last_wave()
                    outcomes = await batch.outcomes(timeout_s=120)
                await assert_outcomes(batch, outcomes)
                await assert_records(batch, outcomes)
                await read_provider_records(own, sessions)
                await assert_each_send_once(batch)
                await assert_no_send_left_unsettled(batch)
                log = (await sandbox.get("/sandbox/log")).json()
        finally:
            if batch is not None:
                with contextlib.suppress(Exception):
                    await batch.close_unfinished()
            await services.close()
            await engine.dispose()

    statuses = answers.statuses()
    assert statuses[503] > 0, f"the restarts were never seen: {answers.seen}"
    assert statuses[500] == 0, f"bare 500s: {answers.seen}"
    assert not answers.without_retry_after, answers.without_retry_after
    assert not answers.unanswered, answers.unanswered
    assert answers.spoken_during_outage > 0, "the voice script never met the outage"
    # What Twilio (the sandbox) got from our webhooks: never a 500, whatever the moment.
    ours: list[dict[str, Any]] = [
        e for e in log if str(e.get("url", "")).startswith(base_url) and e.get("http_status")
    ]
    assert ours, "the sandbox called no webhook of ours"
    assert not [e for e in ours if e["http_status"] >= 500 and e["http_status"] != 503], [
        (e["kind"], e["url"], e["http_status"]) for e in ours if e["http_status"] >= 500
    ]
