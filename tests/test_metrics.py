"""Prometheus metrics: the API's /metrics against the database, request metrics, SDK metrics."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from db.models import (
    LossEntry,
    MerchantResponse,
    NotificationAttempt,
    Refund,
    RiskAssessment,
    utcnow,
)
from domain.vocabulary import Outcome
from observability import sdk_runtime
from tests.harness.http_server import free_port
from tests.harness.stack import LiveStack
from worker import build_worker
from workflows.ids import workflow_id_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _samples(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def _pick(samples: Samples, name: str, label: str | None = None) -> dict[str, float]:
    """{label value: value} for one metric (or {"": value} without labels)."""
    picked: dict[str, float] = {}
    for (sample_name, labels), value in samples.items():
        if sample_name == name:
            key = dict(labels).get(label, "") if label else ""
            picked[key] = value
    return picked


async def _scrape(stack: LiveStack) -> Samples:
    response = await stack.http.get("/metrics", headers=stack.support())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return _samples(response.text)


async def _database_figures(stack: LiveStack) -> dict[str, dict[str, float]]:
    """The same figures, counted here with plain SQL."""

    async def rows(sql: str) -> list[Any]:
        async with stack.services.engine.connect() as connection:
            return list((await connection.execute(text(sql))).all())

    return {
        "refundwatch_refunds_received_total": {
            "": (await rows("SELECT count(*) FROM refunds"))[0][0]
        },
        "refundwatch_refunds_tracked_total": {
            "": (await rows("SELECT count(*) FROM refunds WHERE tracked"))[0][0]
        },
        "refundwatch_outcomes_total": {
            outcome: (
                await rows(f"SELECT count(*) FROM refunds WHERE tracked AND state = '{outcome}'")  # noqa: S608
            )[0][0]
            for outcome in Outcome  # every way a watch ends, evidence_missed too
        },
        "refundwatch_refunds_unstarted": {
            "": (
                await rows(
                    "SELECT count(*) FROM refunds "
                    "WHERE tracked AND state = 'open' AND workflow_started_at IS NULL"
                )
            )[0][0]
        },
        "refundwatch_sends_accepted_total": dict(
            await rows(
                "SELECT channel, count(*) FROM notification_attempts "
                "WHERE provider_sid IS NOT NULL OR channel = 'in_app' GROUP BY channel"
            )
        ),
        "refundwatch_merchant_answers_total": dict(
            await rows(
                "SELECT channel || '/' || action, count(*) FROM merchant_responses "
                "GROUP BY channel, action"
            )
        ),
        "refundwatch_money_saved_minor_total": dict(
            await rows(
                "SELECT currency, sum(amount_minor) FROM refunds "
                "WHERE tracked AND state = 'resolved' GROUP BY currency"
            )
        ),
        "refundwatch_money_lost_minor_total": dict(
            await rows("SELECT currency, sum(amount_minor) FROM loss_ledger GROUP BY currency")
        ),
    }


def _scraped_figures(samples: Samples) -> dict[str, dict[str, float]]:
    answers = {
        f"{dict(labels)['channel']}/{dict(labels)['action']}": value
        for (name, labels), value in samples.items()
        if name == "refundwatch_merchant_answers_total"
    }
    return {
        "refundwatch_refunds_received_total": _pick(samples, "refundwatch_refunds_received_total"),
        "refundwatch_refunds_tracked_total": _pick(samples, "refundwatch_refunds_tracked_total"),
        "refundwatch_outcomes_total": _pick(samples, "refundwatch_outcomes_total", "outcome"),
        "refundwatch_refunds_unstarted": _pick(samples, "refundwatch_refunds_unstarted"),
        "refundwatch_sends_accepted_total": _pick(
            samples, "refundwatch_sends_accepted_total", "channel"
        ),
        "refundwatch_merchant_answers_total": answers,
        "refundwatch_money_saved_minor_total": _pick(
            samples, "refundwatch_money_saved_minor_total", "currency"
        ),
        "refundwatch_money_lost_minor_total": _pick(
            samples, "refundwatch_money_lost_minor_total", "currency"
        ),
    }


async def _record_history(stack: LiveStack) -> str:
    """One refund saved (SMS sent, answered by SMS), one lost after an unanswered call."""
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    now = utcnow()
    async with stack.services.sessions() as session:
        for state, amount in (("resolved", 7_777_700), ("timed_out", 3_333_300)):
            refund_id = f"R-{uuid.uuid4().hex[:10]}"
            session.add(
                Refund(
                    refund_id=refund_id,
                    merchant_id=merchant_id,
                    order_id="O-1",
                    amount_minor=amount,
                    currency="JPY",
                    reason="swapped goods",
                    requested_at=now - timedelta(hours=2),
                    deadline_at=now - timedelta(minutes=1),
                    payload_hash="0" * 64,
                    tracked=True,
                    workflow_id=workflow_id_for(refund_id),
                    workflow_started_at=now - timedelta(hours=2),
                    state=state,
                    stage="closed",
                    closed_at=now,
                    created_at=now - timedelta(hours=2),
                )
            )
            await session.flush()
            session.add(
                RiskAssessment(
                    refund_id=refund_id,
                    score=90,
                    level="critical",
                    tracked=True,
                    rules_version="test",
                    created_at=now,
                )
            )
            channel = "sms" if state == "resolved" else "call"
            session.add(
                NotificationAttempt(
                    idempotency_key=f"{refund_id}:step:0:1",
                    refund_id=refund_id,
                    merchant_id=merchant_id,
                    channel=channel,
                    step="reminder",
                    attempt=1,
                    status="delivered" if channel == "sms" else "no-answer",
                    provider_sid=f"XX{uuid.uuid4().hex}",
                    created_at=now,
                    updated_at=now,
                )
            )
            if state == "resolved":
                session.add(
                    MerchantResponse(
                        source_event_id=f"SM{uuid.uuid4().hex}",
                        refund_id=refund_id,
                        merchant_id=merchant_id,
                        channel="sms",
                        action="dispute",
                        raw="2",
                        received_at=now,
                    )
                )
            else:
                session.add(
                    LossEntry(
                        refund_id=refund_id,
                        merchant_id=merchant_id,
                        amount_minor=amount,
                        currency="JPY",
                        reason="timed_out",
                        last_channel="call",
                        recorded_at=now,
                    )
                )
        await session.commit()
    return merchant_id


async def test_metrics_endpoint_reports_what_the_database_holds(stack: LiveStack) -> None:
    assert (await stack.http.get("/metrics")).status_code == 401
    merchant_id = await _record_history(stack)

    # Scrapes are cached for a few seconds and watches of other tests may still be writing:
    # wait until one scrape agrees with the database read right before it.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while True:
        expected = await _database_figures(stack)
        samples = await _scrape(stack)
        scraped = _scraped_figures(samples)
        if scraped == expected or loop.time() > deadline:
            break
        await asyncio.sleep(0.5)
    assert scraped == expected
    assert scraped["refundwatch_money_saved_minor_total"]["JPY"] >= 7_777_700
    assert scraped["refundwatch_money_lost_minor_total"]["JPY"] >= 3_333_300
    assert scraped["refundwatch_merchant_answers_total"]["sms/dispute"] >= 1
    assert _pick(samples, "refundwatch_database_up") == {"": 1.0}
    sends = {
        (dict(labels)["channel"], dict(labels)["status"]): value
        for (name, labels), value in samples.items()
        if name == "refundwatch_sends"
    }
    assert sends[("sms", "delivered")] >= 1
    assert sends[("call", "no-answer")] >= 1
    # Merchant ids are fine in logs, but no per-merchant (or per-refund) series: bounded labels.
    assert not any(merchant_id in value for _, labels in samples for _, value in labels)


async def test_request_metrics_are_labelled_by_route_not_by_refund(stack: LiveStack) -> None:
    refund_id = f"R-nope-{uuid.uuid4().hex[:6]}"
    for _ in range(2):
        response = await stack.http.get(f"/v1/refunds/{refund_id}", headers=stack.support())
        assert response.status_code == 404
    samples = await _scrape(stack)
    key = (
        "refundwatch_http_requests_total",
        frozenset({("method", "GET"), ("route", "/v1/refunds/{refund_id}"), ("status", "404")}),
    )
    assert samples[key] >= 2
    assert not any(refund_id in value for _, labels in samples for _, value in labels)
    durations = [
        value
        for (name, labels), value in samples.items()
        if name == "refundwatch_http_request_duration_seconds_count"
        and dict(labels)["route"] == "/v1/refunds/{refund_id}"
    ]
    assert durations
    assert durations[0] >= 2


async def test_worker_serves_temporal_sdk_metrics(
    stack: LiveStack, temporal_env: WorkflowEnvironment
) -> None:
    port = free_port()
    settings = stack.settings.model_copy(
        update={"metrics_port": port, "temporal_task_queue": f"metrics-{uuid.uuid4().hex[:6]}"}
    )
    runtime = sdk_runtime(settings)
    assert runtime is not None
    client = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        namespace=settings.temporal_namespace,
        runtime=runtime,
    )
    async with build_worker(client, settings) as worker, worker, httpx.AsyncClient() as http:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            body = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
            if "temporal_num_pollers" in body or loop.time() > deadline:
                break
            await asyncio.sleep(0.3)
    samples = _samples(body)
    pollers = [labels for (name, labels), _ in samples.items() if name == "temporal_num_pollers"]
    assert pollers, body[:2000]
    assert ("task_queue", settings.temporal_task_queue) in pollers[0]
    assert ("service", "refundwatch-worker") in pollers[0]
