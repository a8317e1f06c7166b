"""Webhooks to the platform: the merchant's decisions as signed JSON events, retried until the
platform acknowledges them, never sent again after that, every attempt visible to support.

The signature scheme is checked on its own first (and the receiver example in docs/webhooks.md
against it); then on the real stack — Temporal dev server, PostgreSQL, the platform's receiver
over HTTP — a small workflow calls ``tell_platform`` as the refund watch does, on a task queue of
its own so each test can stop and start its worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import Response
from sqlmodel import select
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.platform_webhooks import OutboundActivities, OutboundConfig
from config.settings import SettingsError, load_settings
from db.models import (
    AuditEvent,
    EvidenceFile,
    EvidenceSubmission,
    OutboundEvent,
    Refund,
    RiskAssessment,
    utcnow,
)
from db.responses import record_response
from demo.platform_receiver import PlatformReceiver
from evidence import new_storage_key
from platform_webhooks.signing import SignatureError, sign, verify
from platform_webhooks.types import (
    DISPUTED,
    EVIDENCE_MISSED,
    EVIDENCE_SUBMITTED,
    MERCHANT_HANDLING,
    NOT_CONFIGURED,
    REJECTED,
    OutboundDeliveryInput,
    OutboundEventInput,
    delivery_workflow_id,
)
from tests.harness.http_server import serve_asgi
from tests.harness.outbound_workflow import TellInput, TellPlatformWorkflow
from tests.harness.stack import LiveStack
from tests.test_support_cli import refundwatch
from workflows.platform_webhooks import OutboundDeliveryWorkflow

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec-test-0000000000000001"
OLD_SECRET = "whsec-test-0000000000000000"
BODY = b'{"id":"evt_1","type":"refund.disputed"}'
T0 = 1_795_424_047


# ---------------------------------------------------------------------------- the signature
def test_signature_is_hmac_sha256_of_timestamp_dot_body_and_verifies() -> None:
    header = sign(SECRET, T0, BODY)
    digest = hmac.new(SECRET.encode(), f"{T0}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T0},v1={digest}"
    assert verify(SECRET, header, BODY, now=T0 + 10) == T0


def test_a_modified_body_or_another_secret_is_refused() -> None:
    header = sign(SECRET, T0, BODY)
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, header, BODY.replace(b"disputed", b"approved"), now=T0)
    with pytest.raises(SignatureError, match="does not match"):
        verify("someone-elses-secret-000", header, BODY, now=T0)


def test_a_replayed_or_future_dated_request_is_refused() -> None:
    header = sign(SECRET, T0, BODY)
    assert verify(SECRET, header, BODY, now=T0 + 300) == T0
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify(SECRET, header, BODY, now=T0 + 301)
    with pytest.raises(SignatureError, match="more than 300 s"):
        verify(SECRET, header, BODY, now=T0 - 301)
    assert verify(SECRET, header, BODY, now=T0 + 3000, tolerance_s=3600) == T0


@pytest.mark.parametrize(
    "header", [None, "", "v1=abc", f"t={T0}", "t=soon,v1=abc", f"t={T0},v2=abc"]
)
def test_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, header, BODY, now=T0)


def test_secret_rotation_either_side_may_hold_both_secrets() -> None:
    # The sender holds new and old: one v1 each; a receiver still on the old secret accepts.
    both = sign([SECRET, OLD_SECRET], T0, BODY)
    assert both.count("v1=") == 2
    assert verify(OLD_SECRET, both, BODY, now=T0) == T0
    assert verify(SECRET, both, BODY, now=T0) == T0
    # The receiver holds both while the sender moves: either signature is accepted.
    assert verify([SECRET, OLD_SECRET], sign(OLD_SECRET, T0, BODY), BODY, now=T0) == T0
    with pytest.raises(SignatureError):
        verify([SECRET], sign(OLD_SECRET, T0, BODY), BODY, now=T0)


def _documented_verifier() -> Callable[[list[str], str, bytes], dict[str, Any]]:
    """The first Python block of docs/webhooks.md, run as a receiver would copy it."""
    text = (ROOT / "docs" / "webhooks.md").read_text()
    match = re.search(r"```python\n(.*?)```", text, re.S)
    assert match is not None
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "docs/webhooks.md", "exec"), namespace)  # noqa: S102 (our docs)
    verifier: Callable[[list[str], str, bytes], dict[str, Any]] = namespace["verify_refundwatch"]
    return verifier


def test_the_receiver_example_in_the_docs_verifies_our_signatures() -> None:
    import time

    verify_refundwatch = _documented_verifier()
    now = int(time.time())
    assert verify_refundwatch([SECRET], sign(SECRET, now, BODY), BODY)["id"] == "evt_1"
    assert verify_refundwatch([SECRET], sign([OLD_SECRET, SECRET], now, BODY), BODY)
    refusals = {
        sign(SECRET, now - 301, BODY): "too old",
        sign(OLD_SECRET, now, BODY): "bad signature",
        "t=1": "malformed",
    }
    for header, reason in refusals.items():
        with pytest.raises(ValueError, match=reason):
            verify_refundwatch([SECRET], header, BODY)
    with pytest.raises(ValueError, match="bad signature"):
        verify_refundwatch([SECRET], sign(SECRET, now, BODY), BODY + b" ")


def test_a_webhook_url_without_a_secret_fails_at_start_up_naming_the_setting() -> None:
    required: dict[str, Any] = {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "secret",
        "twilio_from_number": "+14155550000",
        "public_base_url": "https://rw.example.com",
        "platform_tokens": "platform-token-0000001",
        "support_tokens": "support-token-00000001",
        "merchant_token_secret": "s3cret",
    }
    with pytest.raises(SettingsError, match=r"REFUNDWATCH_PLATFORM_WEBHOOK_SECRET: .*required"):
        load_settings(**required, platform_webhook_url="https://platform.example.com/hooks")
    with pytest.raises(SettingsError, match=r"REFUNDWATCH_PLATFORM_WEBHOOK_SECRET: .*16 char"):
        load_settings(
            **required, platform_webhook_url="https://p.example/h", platform_webhook_secrets="x"
        )
    with pytest.raises(SettingsError, match=r"REFUNDWATCH_PLATFORM_WEBHOOK_URL: .*must be an http"):
        load_settings(**required, platform_webhook_url="ftp://p", platform_webhook_secrets=SECRET)
    settings = load_settings(
        **required,
        platform_webhook_url="https://p.example/hooks/",
        platform_webhook_secrets=f"{SECRET}, {OLD_SECRET}",
        platform_webhook_max_retry_interval_s="5m",
    )
    config = OutboundConfig.from_settings(settings)
    assert config.url == "https://p.example/hooks/"  # a trailing slash may matter: kept
    assert config.secrets == [SECRET, OLD_SECRET]
    assert config.delivery.max_retry_interval_s == 300
    assert load_settings(**required).platform_webhook_url is None  # optional altogether


# ---------------------------------------------------------------------------- on the stack
@pytest.fixture
def receiver(stack: LiveStack) -> PlatformReceiver:
    assert stack.receiver is not None
    return stack.receiver


@pytest.fixture
def queue() -> str:
    return f"outbound-test-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def outbound_worker(
    stack: LiveStack, queue: str, config: OutboundConfig | None = None
) -> AsyncIterator[None]:
    """A worker for the outbound workflows and activities only, as `refundwatch worker` builds
    them from the settings (webhook URL = the stack's receiver, retries capped at 2 s)."""
    config = config or OutboundConfig.from_settings(stack.settings)
    async with config.http_client() as http:
        activities = OutboundActivities(stack.services.sessions, http, config)
        async with Worker(
            stack.client,
            task_queue=queue,
            workflows=[TellPlatformWorkflow, OutboundDeliveryWorkflow],
            activities=activities.all(),
        ):
            yield


async def new_refund(stack: LiveStack) -> tuple[str, str]:
    """A stored refund (small and normal: no watch of its own) for events to describe."""
    merchant_id, _ = await stack.merchant([{}])
    body = stack.refund_body(merchant_id, amount="15.00", signals={})
    response = await stack.intake(body)
    assert response.status_code == 201, response.text
    assert response.json()["tracked"] is False
    return body["refund_id"], merchant_id


async def answered(stack: LiveStack, refund_id: str, action: str, channel: str = "call") -> None:
    """The merchant's answer as the API records it (keypad, SMS reply, in-app)."""
    async with stack.services.sessions() as session:
        refund = await session.get(Refund, refund_id)
        assert refund is not None
        raw = {"handle_now": "1", "dispute": "2"}.get(action, action)
        await record_response(
            session,
            refund=refund,
            channel=channel,
            action=action,
            raw=raw,
            source_event_id=f"{channel}:{refund_id}:{action}",
        )
        await session.commit()


async def submitted_evidence(
    stack: LiveStack, refund_id: str, merchant_id: str, *, source: str = "merchant"
) -> int:
    """Evidence as the evidence API stores it: the submission and its files' descriptions."""
    async with stack.services.sessions() as session:
        details: dict[str, Any] = (
            {"reasons": [{"code": "logistics.empty_package", "text": "empty package"}]}
            if source == "risk_gate"
            else {}
        )
        submission = EvidenceSubmission(
            refund_id=refund_id,
            merchant_id=merchant_id,
            request_id=f"req-{uuid.uuid4().hex[:6]}",
            category="empty_package",
            note="The box came back empty.",
            source=source,
            details=details,
            submitted_at=utcnow(),
        )
        session.add(submission)
        await session.flush()
        assert submission.id is not None
        files = (("box.jpg", "image/jpeg", 284113), ("label.pdf", "application/pdf", 912))
        for name, kind, size in files:
            # The payload is built from the rows; the bytes only have to be in the store, as
            # every recorded file's are (a row without bytes is a 500 on download).
            key = new_storage_key()
            await stack.services.evidence.put(key, b"\0" * size)
            session.add(
                EvidenceFile(
                    evidence_id=submission.id,
                    filename=name,
                    content_type=kind,
                    size_bytes=size,
                    sha256=hashlib.sha256(name.encode()).hexdigest(),
                    storage_key=key,
                    created_at=utcnow(),
                )
            )
        await session.commit()
        return submission.id


async def tell(stack: LiveStack, queue: str, params: TellInput, workflow_id: str) -> str:
    """Run the stand-in watch to completion: it returns once the event is stored and its
    delivery started, never waiting for the platform."""
    event_id: str = await stack.client.execute_workflow(
        TellPlatformWorkflow.run, params, id=workflow_id, task_queue=queue
    )
    return event_id


async def delivery_result(stack: LiveStack, event_id: str, timeout: float = 90) -> str:
    handle = stack.client.get_workflow_handle(delivery_workflow_id(event_id), result_type=str)
    result: str = await asyncio.wait_for(handle.result(), timeout)
    return result


async def support_events(stack: LiveStack, refund_id: str) -> list[dict[str, Any]]:
    response = await stack.http.get(
        f"/v1/support/refunds/{refund_id}/outbound-events", headers=stack.support()
    )
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()
    return events


async def wait_event(
    stack: LiveStack,
    refund_id: str,
    condition: Callable[[dict[str, Any]], bool],
    timeout: float = 90,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        events = await support_events(stack, refund_id)
        if events and condition(events[0]):
            return events[0]
        if loop.time() > end:
            raise AssertionError(f"condition not met in {timeout} s; events: {events}")
        await asyncio.sleep(0.3)


async def test_a_decision_reaches_the_platform_signed_and_support_sees_the_delivery(
    stack: LiveStack, receiver: PlatformReceiver, queue: str
) -> None:
    refund_id, merchant_id = await new_refund(stack)
    evidence_id = await submitted_evidence(stack, refund_id, merchant_id)
    params = TellInput(EVIDENCE_SUBMITTED, refund_id, merchant_id, str(evidence_id), evidence_id)
    async with outbound_worker(stack, queue):
        event_id = await tell(stack, queue, params, f"watch-{refund_id}")
        assert await delivery_result(stack, event_id) == "delivered"

    # The receiver verified the signature (with the shared secret) before acknowledging it.
    assert receiver.acknowledgements(event_id) == 1
    assert [r.note for r in receiver.requests if r.event_id == event_id] == ["accepted"]
    sent = receiver.events[event_id].payload
    assert sent["id"] == event_id and sent["type"] == "refund.evidence_submitted"
    assert sent["refund"] == {
        "refund_id": refund_id,
        "order_id": sent["refund"]["order_id"],
        "merchant_id": merchant_id,
        "amount": "15.00",
        "currency": "CNY",
    }
    evidence = sent["data"]["evidence"]
    assert evidence["id"] == evidence_id and evidence["category"] == "empty_package"
    assert evidence["note"] == "The box came back empty." and evidence["source"] == "merchant"
    assert evidence["files"] == [
        {
            "name": "box.jpg",
            "type": "image/jpeg",
            "size": 284113,
            "sha256": hashlib.sha256(b"box.jpg").hexdigest(),
        },
        {
            "name": "label.pdf",
            "type": "application/pdf",
            "size": 912,
            "sha256": hashlib.sha256(b"label.pdf").hexdigest(),
        },
    ]

    (event,) = await support_events(stack, refund_id)
    assert event["event_id"] == event_id and event["state"] == "delivered"
    assert event["attempts"] == 1 and event["last_error"] is None
    assert event["delivered_at"] is not None and event["payload"] == sent
    assert [d["status_code"] for d in event["deliveries"]] == [200]
    assert event["delivery_workflow_id"] == f"outbound-{event_id}"
    timeline = await stack.http.get(f"/v1/refunds/{refund_id}/timeline", headers=stack.support())
    kinds = [entry["kind"] for entry in timeline.json()]
    assert kinds.count("webhook.acknowledged") == 1


async def test_receiver_down_for_a_while_gets_the_event_once_it_is_back_exactly_once(
    stack: LiveStack, receiver: PlatformReceiver, queue: str
) -> None:
    refund_id, merchant_id = await new_refund(stack)
    await answered(stack, refund_id, "handle_now", channel="call")
    receiver.down(refund_id=refund_id)  # 503 for this refund's events until told otherwise
    try:
        async with outbound_worker(stack, queue):
            # The watch is not held up: it finishes while the platform is still down.
            params = TellInput(MERCHANT_HANDLING, refund_id, merchant_id)
            event_id = await tell(stack, queue, params, f"watch-{refund_id}")
            failing = await wait_event(stack, refund_id, lambda e: e["attempts"] >= 3)
            assert failing["state"] == "retrying" and failing["delivered_at"] is None
            assert {d["status_code"] for d in failing["deliveries"]} == {503}
            assert failing["last_error"].startswith("HTTP 503")
            assert receiver.acknowledgements(event_id) == 0
            receiver.up(refund_id)
            assert await delivery_result(stack, event_id) == "delivered"
    finally:
        receiver.up(refund_id)

    assert receiver.acknowledgements(event_id) == 1
    (event,) = await support_events(stack, refund_id)
    codes = [d["status_code"] for d in event["deliveries"]]
    assert codes[-1] == 200 and set(codes[:-1]) == {503} and len(codes) >= 4
    assert [d["attempt"] for d in event["deliveries"]] == list(range(1, len(codes) + 1))
    assert event["attempts"] == len(codes) and event["state"] == "delivered"
    assert receiver.refused(event_id) == len(codes) - 1
    data = receiver.events[event_id].payload["data"]
    assert data["answer"] == "handle_now" and data["channel"] == "call"
    assert data["answered_at"] is not None

    # Told again (a replayed or repeated decision): the same event, and nothing is sent.
    async with outbound_worker(stack, queue):
        assert await tell(stack, queue, params, f"watch-{refund_id}") == event_id
        # Even a new run of the delivery workflow itself finds the acknowledgement.
        again = await stack.client.execute_workflow(
            OutboundDeliveryWorkflow.run,
            OutboundDeliveryInput(event_id),
            id=delivery_workflow_id(event_id),
            task_queue=queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        )
        assert again == "already_delivered"
    assert receiver.acknowledgements(event_id) == 1
    (event,) = await support_events(stack, refund_id)
    assert event["attempts"] == len(codes) and len(event["deliveries"]) == len(codes)


async def test_a_worker_restart_in_the_middle_of_retries_still_delivers_once(
    stack: LiveStack, receiver: PlatformReceiver, queue: str
) -> None:
    refund_id, merchant_id = await new_refund(stack)
    receiver.down(refund_id=refund_id)
    try:
        async with outbound_worker(stack, queue):
            params = TellInput(EVIDENCE_MISSED, refund_id, merchant_id)
            event_id = await tell(stack, queue, params, f"watch-{refund_id}")
            await wait_event(stack, refund_id, lambda e: e["attempts"] >= 2)
        # No worker now; the retry waits in Temporal. The platform comes back meanwhile.
        receiver.up(refund_id)
        async with outbound_worker(stack, queue):  # a new worker (deploy, crash and restart)
            assert await delivery_result(stack, event_id) == "delivered"
    finally:
        receiver.up(refund_id)
    assert receiver.acknowledgements(event_id) == 1
    (event,) = await support_events(stack, refund_id)
    assert event["state"] == "delivered" and event["deliveries"][-1]["status_code"] == 200


async def test_410_gone_is_final_and_not_retried(stack: LiveStack, queue: str) -> None:
    refund_id, merchant_id = await new_refund(stack)
    gone = FastAPI()
    hits: list[str] = []

    @gone.post("/hooks")
    async def hook() -> Response:
        hits.append("hit")
        return Response("this integration was removed", status_code=410)

    async with serve_asgi(gone) as url:
        config = replace(OutboundConfig.from_settings(stack.settings), url=f"{url}/hooks")
        async with outbound_worker(stack, queue, config):
            params = TellInput(EVIDENCE_MISSED, refund_id, merchant_id)
            event_id = await tell(stack, queue, params, f"watch-{refund_id}")
            assert await delivery_result(stack, event_id) == "refused"
    assert hits == ["hit"]
    (event,) = await support_events(stack, refund_id)
    assert event["state"] == "refused" and event["attempts"] == 1
    assert event["last_error"] == "refused: HTTP 410: this integration was removed"


async def test_without_a_webhook_url_the_event_is_recorded_not_sent(
    stack: LiveStack, queue: str
) -> None:
    refund_id, merchant_id = await new_refund(stack)
    config = replace(OutboundConfig.from_settings(stack.settings), url=None)
    async with outbound_worker(stack, queue, config):
        params = TellInput(EVIDENCE_MISSED, refund_id, merchant_id)
        event_id = await tell(stack, queue, params, f"watch-{refund_id}")
        assert await delivery_result(stack, event_id) == "not_configured"
    (event,) = await support_events(stack, refund_id)
    assert event["state"] == "not_sent" and event["last_error"] == NOT_CONFIGURED
    assert event["attempts"] == 0 and event["deliveries"] == []


async def test_payloads_describe_each_decision_from_the_database(stack: LiveStack) -> None:
    refund_id, merchant_id = await new_refund(stack)
    due = utcnow().replace(microsecond=0)
    async with stack.services.sessions() as session:
        refund = await session.get(Refund, refund_id)
        assert refund is not None
        refund.evidence_due_at = due
        session.add(refund)
        await session.commit()
        risk = (
            await session.exec(select(RiskAssessment).where(RiskAssessment.refund_id == refund_id))
        ).one()
    await answered(stack, refund_id, "dispute", channel="sms")
    await answered(stack, refund_id, "reject", channel="call")
    rejection = await submitted_evidence(stack, refund_id, merchant_id, source="risk_gate")
    config = replace(OutboundConfig.from_settings(stack.settings), url=None)
    activities = OutboundActivities(stack.services.sessions, stack.http, config)
    env = ActivityEnvironment()

    async def create(kind: str, evidence_id: int | None = None) -> dict[str, Any]:
        event_id = f"evt_{uuid.uuid4().hex}"
        item = OutboundEventInput(event_id, kind, refund_id, merchant_id, evidence_id)
        created = await env.run(activities.create_outbound_event, item)
        assert created.event_id == event_id
        assert created.delivery.max_retry_interval_s == 2  # the settings', for the workflow
        await env.run(activities.create_outbound_event, item)  # a retried activity: no change
        async with stack.services.sessions() as session:
            row = await session.get(OutboundEvent, event_id)
            assert row is not None and row.type == kind and row.attempts == 0
            return row.payload

    disputed = await create(DISPUTED)
    assert disputed["data"] == {
        "evidence_due_at": due.isoformat(),
        "answer": "dispute",
        "channel": "sms",
        "answered_at": disputed["data"]["answered_at"],
    }
    assert (await create(EVIDENCE_MISSED))["data"] == {"evidence_due_at": due.isoformat()}
    rejected = (await create(REJECTED, rejection))["data"]
    assert rejected["reason"] == "abnormal" and rejected["channel"] == "call"
    assert rejected["evidence"]["source"] == "risk_gate"
    assert rejected["evidence"]["details"]["reasons"][0]["code"] == "logistics.empty_package"
    assert rejected["risk"]["score"] == risk.score and rejected["risk"]["level"] == risk.level
    scored = [r for r in risk.reasons if r.get("points")]
    assert [r["code"] for r in rejected["risk"]["reasons"]] == [r["code"] for r in scored]
    handling = (await create(MERCHANT_HANDLING))["data"]
    assert handling == {"answer": "handle_now", "channel": None, "answered_at": None}
    # Nothing personal: no phone numbers or contact names anywhere in a payload.
    assert "+86" not in json.dumps(rejected) and "Contact" not in json.dumps(rejected)

    other_refund, _ = await new_refund(stack)
    for bad in (
        OutboundEventInput("evt_bad1", "refund.approved", refund_id, merchant_id),
        OutboundEventInput("evt_bad2", REJECTED, refund_id, merchant_id),  # no evidence id
        OutboundEventInput("evt_bad3", REJECTED, other_refund, merchant_id, rejection),
        OutboundEventInput("evt_bad4", DISPUTED, "R-does-not-exist", merchant_id),
    ):
        with pytest.raises(ApplicationError) as failure:
            await env.run(activities.create_outbound_event, bad)
        assert failure.value.non_retryable, bad


async def test_support_cli_and_page_list_the_attempts(
    stack: LiveStack, receiver: PlatformReceiver, queue: str
) -> None:
    refund_id, merchant_id = await new_refund(stack)
    receiver.down(refund_id=refund_id)
    try:
        async with outbound_worker(stack, queue):
            params = TellInput(DISPUTED, refund_id, merchant_id)
            event_id = await tell(stack, queue, params, f"watch-{refund_id}")
            await wait_event(stack, refund_id, lambda e: e["attempts"] >= 1)
            receiver.up(refund_id)
            assert await delivery_result(stack, event_id) == "delivered"
    finally:
        receiver.up(refund_id)

    run = await refundwatch(stack, "refund", "webhooks", refund_id, "--json")
    assert run.code == 0, run.err
    (listed,) = run.json()
    assert listed["event_id"] == event_id and listed["state"] == "delivered"
    assert listed["deliveries"][0]["status_code"] == 503
    table = await refundwatch(stack, "refund", "webhooks", refund_id)
    assert "refund.disputed" in table.out and event_id in table.out and "503" in table.out
    missing = await refundwatch(stack, "refund", "webhooks", "R-nope")
    assert missing.code == 1 and "refund R-nope not found" in missing.err

    # A browser of its own: the session cookie must not stay in the shared client.
    async with httpx.AsyncClient(base_url=stack.http.base_url, timeout=30) as browser:
        login = await browser.post(
            "/support/login", data={"token": stack.support_token, "next": "/support"}
        )
        assert login.status_code == 303
        page = await browser.get(f"/support/refunds/{refund_id}")
    assert page.status_code == 200
    assert "Told to the platform" in page.text and event_id in page.text
    assert "refund.disputed" in page.text and "delivered" in page.text
    async with stack.services.sessions() as session:
        views = await session.exec(
            select(AuditEvent).where(
                AuditEvent.refund_id == refund_id, AuditEvent.kind == "support.viewed"
            )
        )
        assert {"refund.outbound_events", "refund.page"} <= {
            v.detail.get("view") for v in views.all()
        }
