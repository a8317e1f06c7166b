"""Record the main scenarios' workflow histories for tests/test_replay.py.

    .venv/bin/python -m tests.workflow_histories.record [scenario ...]

Starts the same live stack the tests use (a Temporal dev server via start_local, a scratch
PostgreSQL database, the Twilio sandbox and the API over HTTP, a worker), with the seconds
policy of tests/policy.yaml, plays each scenario through the public API as the platform and the
merchants would, and writes each finished workflow's history to
tests/workflow_histories/<name>.json.
Needs PostgreSQL like the tests (TEST_DATABASE_ADMIN_URL). Takes about a minute.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import merchant_token
from application.services import build_services
from config.settings import load_settings
from demo.processes import temporal_binary
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PLATFORM_TOKEN, SUPPORT_TOKEN
from tests.harness.database import fresh_database
from tests.harness.http_server import free_port, serve_asgi
from tests.harness.stack import LiveStack
from twilio_sandbox import SandboxConfig, load_scenario
from twilio_sandbox import create_app as create_sandbox
from worker import build_worker
from workflows import search_attributes as sa
from workflows.starter import watch_handle

HERE = Path(__file__).parent
TESTS = HERE.parent

ANSWERS_1 = {"calls": [{"answer": "human", "digits": ["1"]}]}
NEVER = {"calls": [{"answer": "no-answer"}]}


@asynccontextmanager
async def live_stack() -> AsyncIterator[LiveStack]:
    async with fresh_database("rw_record") as database_url, _stack_on(database_url) as stack:
        yield stack


@asynccontextmanager
async def _stack_on(database_url: str) -> AsyncIterator[LiveStack]:
    api_port = free_port()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=sa.ALL,
        dev_server_log_level="error",
    )
    sandbox_config = SandboxConfig(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        scenario=load_scenario(TESTS / "scenario.yaml"),
        inbound_sms_url=f"http://127.0.0.1:{api_port}/twilio/sms",
        # An account with a higher call rate than Twilio's default 1 CPS: many scenarios share
        # it here (the product paces itself at the settings' 20 a second).
        calls_per_second=20,
    )
    try:
        async with serve_asgi(create_sandbox(sandbox_config)) as sandbox_url:
            settings = load_settings(
                database_url=database_url,
                temporal_task_queue=f"refundwatch-record-{uuid.uuid4().hex[:6]}",
                twilio_account_sid=ACCOUNT_SID,
                twilio_auth_token=AUTH_TOKEN,
                twilio_from_number="+14155550000",
                twilio_api_base_url=sandbox_url,
                public_base_url=f"http://127.0.0.1:{api_port}",
                policy_path=TESTS / "policy.yaml",
                platform_tokens=PLATFORM_TOKEN,
                support_tokens=SUPPORT_TOKEN,
                merchant_token_secret="record-merchant-secret",
                calls_per_second=20,
                sms_per_second=20,
            )
            services = await build_services(settings, temporal=env.client)
            async with (
                serve_asgi(create_app(settings, services), port=api_port) as api_url,
                build_worker(env.client, settings) as worker,
                worker,
                httpx.AsyncClient(base_url=api_url, timeout=30) as http,
                httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox,
            ):
                yield LiveStack(
                    settings=settings,
                    services=services,
                    client=env.client,
                    http=http,
                    sandbox=sandbox,
                    platform_token=PLATFORM_TOKEN,
                    support_token=SUPPORT_TOKEN,
                )
            await services.close()
    finally:
        await env.shutdown()


async def _resolve(stack: LiveStack, refund_id: str, resolution: str) -> None:
    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": resolution, "event_id": f"ev-{refund_id}"},
    )
    response.raise_for_status()


async def _start(stack: LiveStack, behaviours: list[dict[str, Any]], deadline_in: float) -> str:
    merchant_id, _ = await stack.merchant(behaviours)
    body = stack.refund_body(merchant_id, deadline_in=deadline_in)
    response = await stack.intake(body)
    assert response.status_code == 201, response.text
    refund_id: str = body["refund_id"]
    return refund_id


async def keypad_1_then_resolved(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [ANSWERS_1], deadline_in=18)
    await stack.wait_view(refund_id, lambda v: v["merchant_answer"] == "handle_now")
    await _resolve(stack, refund_id, "rejected")
    return refund_id, "resolved"


async def nobody_answers_times_out(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [NEVER, {"calls": [{"answer": "busy"}]}], deadline_in=18)
    return refund_id, "timed_out"


async def platform_resolves_early(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [NEVER], deadline_in=40)
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")
    await _resolve(stack, refund_id, "approved")
    return refund_id, "resolved"


async def sms_undelivered_brings_the_call_forward(stack: LiveStack) -> tuple[str, str]:
    undelivered = {"sms": [{"status": "undelivered", "error_code": 30003}], **ANSWERS_1}
    refund_id = await _start(stack, [undelivered], deadline_in=40)
    await stack.wait_view(refund_id, lambda v: v["merchant_answer"] == "handle_now")
    await _resolve(stack, refund_id, "rejected")
    return refund_id, "resolved"


def _merchant_auth(stack: LiveStack, merchant_id: str) -> dict[str, str]:
    secret = stack.settings.merchant_token_secret.get_secret_value()
    return {"Authorization": f"Bearer {merchant_token(secret, merchant_id)}"}


async def _in_app(stack: LiveStack, refund_id: str, action: str) -> None:
    view = await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")
    response = await stack.http.post(
        f"/v1/merchant/refunds/{refund_id}/answer",
        headers=_merchant_auth(stack, view["merchant_id"]),
        json={"action": action, "request_id": "req-record"},
    )
    response.raise_for_status()


async def in_app_acknowledged_then_times_out(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [NEVER], deadline_in=18)
    await _in_app(stack, refund_id, "acknowledge")
    return refund_id, "timed_out"


async def keypad_2_evidence_then_rejected(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [{"calls": [{"answer": "human", "digits": ["2"]}]}], 25)
    view = await stack.wait_view(refund_id, lambda v: v["stage"] == "disputed")
    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/evidence",
        headers=_merchant_auth(stack, view["merchant_id"]),
        data={"category": "swapped_item", "note": "serial differs", "request_id": "ev-record"},
        files=[("files", ("serial.pdf", b"%PDF-1.4\n%record\n", "application/pdf"))],
    )
    response.raise_for_status()
    await stack.wait_view(refund_id, lambda v: v["stage"] == "evidence_submitted")
    await _resolve(stack, refund_id, "rejected")
    return refund_id, "resolved"


async def in_app_dispute_evidence_missed(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [NEVER], deadline_in=90)
    await _in_app(stack, refund_id, "dispute")
    return refund_id, "evidence_missed"


async def keypad_2_two_pieces_of_evidence_then_rejected(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [{"calls": [{"answer": "human", "digits": ["2"]}]}], 25)
    view = await stack.wait_view(refund_id, lambda v: v["stage"] == "disputed")
    for request_id in ("ev-record-1", "ev-record-2"):
        response = await stack.http.post(
            f"/v1/refunds/{refund_id}/evidence",
            headers=_merchant_auth(stack, view["merchant_id"]),
            data={"category": "swapped_item", "note": request_id, "request_id": request_id},
        )
        response.raise_for_status()
    await stack.wait_view(refund_id, lambda v: v["stage"] == "evidence_submitted")
    await _resolve(stack, refund_id, "rejected")
    return refund_id, "resolved"


async def in_app_reject_then_rejected(stack: LiveStack) -> tuple[str, str]:
    refund_id = await _start(stack, [NEVER], deadline_in=90)
    await _in_app(stack, refund_id, "reject")
    await stack.wait_view(refund_id, lambda v: v["stage"] == "rejected")
    await _resolve(stack, refund_id, "rejected")
    return refund_id, "resolved"


def _with_notice_events(
    scenario: Callable[[LiveStack], Awaitable[tuple[str, str]]],
) -> Callable[[LiveStack], Awaitable[tuple[str, str]]]:
    """The scenario with REFUNDWATCH_PLATFORM_NOTICE_EVENTS on (patch "notice-events")."""

    async def run(stack: LiveStack) -> tuple[str, str]:
        stack.services.settings.platform_notice_events = True
        return await scenario(stack)

    return run


def _learning_call_times(
    scenario: Callable[[LiveStack], Awaitable[tuple[str, str]]],
) -> Callable[[LiveStack], Awaitable[tuple[str, str]]]:
    """The scenario with the policy's learned call times on (tests/policy.yaml has them off):
    the watch reads the contact's odds when it plans (local activity ``call_odds``)."""

    async def run(stack: LiveStack) -> tuple[str, str]:
        policy = stack.services.policy
        stack.services.policy = replace(policy, call_times=replace(policy.call_times, enabled=True))
        return await scenario(stack)

    return run


async def link_dispute_evidence_then_rejected(stack: LiveStack) -> tuple[str, str]:
    """The merchant answers on the page behind the SMS's action link (channel "link")."""
    merchant_id, phones = await stack.merchant([NEVER])
    body = stack.refund_body(merchant_id, deadline_in=30)
    assert (await stack.intake(body)).status_code == 201
    refund_id: str = body["refund_id"]
    link = ""
    for _ in range(200):
        messages = (await stack.sandbox.get("/sandbox/messages")).json()
        found = [m["body"] for m in messages if m["to"] == phones[0]]
        if found:
            link = next(w for w in found[0].split() if "/m/" in w)
            break
        await asyncio.sleep(0.3)
    page = await stack.http.get(link)
    token = page.text.split('name="form_token" value="', 1)[1].split('"', 1)[0]
    fields = {"form_token": token}
    answer = await stack.http.post(
        f"{link}/refunds/{refund_id}/answer",
        data={**fields, "action": "dispute", "request_id": "record-dispute"},
    )
    assert answer.status_code == 303, answer.text
    await stack.wait_view(refund_id, lambda v: v["stage"] == "disputed")
    sent = await stack.http.post(
        f"{link}/refunds/{refund_id}/evidence",
        data={**fields, "category": "empty_package", "request_id": "record-evidence"},
        files=[("files", ("box.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png"))],
    )
    assert sent.status_code == 303, sent.text
    await stack.wait_view(refund_id, lambda v: v["stage"] == "evidence_submitted")
    await _resolve(stack, refund_id, "rejected")
    return refund_id, "resolved"


SCENARIOS: dict[str, Callable[[LiveStack], Awaitable[tuple[str, str]]]] = {
    "keypad_1_then_resolved": keypad_1_then_resolved,
    "nobody_answers_times_out": nobody_answers_times_out,
    "platform_resolves_early": platform_resolves_early,
    "sms_undelivered_brings_the_call_forward": sms_undelivered_brings_the_call_forward,
    "in_app_acknowledged_then_times_out": in_app_acknowledged_then_times_out,
    # Recorded after disputes (workflow patch "dispute-phase") were added:
    "keypad_2_evidence_then_rejected": keypad_2_evidence_then_rejected,
    "in_app_dispute_evidence_missed": in_app_dispute_evidence_missed,
    "in_app_reject_then_rejected": in_app_reject_then_rejected,
    # Recorded after bookkeeping writes became local activities (patch "local-bookkeeping"):
    "keypad_1_then_resolved_local_bookkeeping": keypad_1_then_resolved,
    "keypad_2_evidence_then_rejected_local_bookkeeping": keypad_2_evidence_then_rejected,
    # Recorded after every answer became the "answer" Update, provider reports the
    # "delivery_reported" signal, and the outcome a regular activity ("outcome-after-commit"):
    "keypad_1_then_resolved_answer_update": keypad_1_then_resolved,
    "nobody_answers_times_out_outcome_committed": nobody_answers_times_out,
    "sms_undelivered_brings_the_call_forward_delivery_reported": (
        sms_undelivered_brings_the_call_forward
    ),
    "in_app_reject_then_rejected_answer_update": in_app_reject_then_rejected,
    # ... and more evidence after the first is told to the platform too ("more-evidence"):
    "keypad_2_two_pieces_of_evidence_then_rejected": keypad_2_two_pieces_of_evidence_then_rejected,
    # Recorded against a sandbox as strict as Twilio, with sends looked up when a report does
    # not come ("report-lookup") and asynchronous answering machine detection:
    "keypad_1_then_resolved_report_lookup": keypad_1_then_resolved,
    "nobody_answers_times_out_report_lookup": nobody_answers_times_out,
    "sms_undelivered_brings_the_call_forward_report_lookup": (
        sms_undelivered_brings_the_call_forward
    ),
    # Recorded after an in-app or SMS step's stage change rode in the step's own activity
    # ("step-records-in-activity"):
    "keypad_1_then_resolved_step_records": keypad_1_then_resolved,
    "nobody_answers_times_out_step_records": nobody_answers_times_out,
    "sms_undelivered_brings_the_call_forward_step_records": (
        sms_undelivered_brings_the_call_forward
    ),
    # ... and the watch's end written by one activity ("one-closing-activity"):
    "keypad_1_then_resolved_one_closing": keypad_1_then_resolved,
    "in_app_dispute_evidence_missed_one_closing": in_app_dispute_evidence_missed,
    # Recorded with notice events on (patch "notice-events"; record these on their own, the
    # setting is switched on for the whole stack) and an answer on the merchant page:
    "nobody_answers_times_out_notice_events": _with_notice_events(nobody_answers_times_out),
    "link_dispute_evidence_notice_events": _with_notice_events(link_dispute_evidence_then_rejected),
    # Recorded after calls' outcomes were kept and call steps could move to the contact's best
    # hour ("call-timing-learned"), with the policy's call_times on:
    "keypad_1_then_resolved_call_times": _learning_call_times(keypad_1_then_resolved),
    "nobody_answers_times_out_call_times": _learning_call_times(nobody_answers_times_out),
}


async def record(names: list[str]) -> None:
    """Record ``names`` (default: all). Histories recorded by older workflow code are kept on
    purpose: replaying them proves the current code still runs the watches they stand for."""
    async with live_stack() as stack:

        async def one(name: str) -> None:
            refund_id, expected = await SCENARIOS[name](stack)
            handle = watch_handle(stack.client, refund_id)
            outcome = await asyncio.wait_for(handle.result(), 90)
            if outcome != expected:
                raise RuntimeError(f"{name}: outcome {outcome}, expected {expected}")
            history = await handle.fetch_history()
            document = {"workflow_id": history.workflow_id, "outcome": outcome,
                        "history": history.to_json_dict()}  # fmt: skip
            path = HERE / f"{name}.json"
            path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
            print(f"{name}: {outcome}, {len(history.events)} events → {path}")  # noqa: T201

        await asyncio.gather(*(one(name) for name in names or SCENARIOS))


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
