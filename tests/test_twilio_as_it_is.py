"""Twilio as it really behaves, end to end (issue 12): the real dev server, API and worker
against a sandbox as strict as Twilio (docs/twilio-sandbox.md).

Each test sets up what Twilio does and the product must live with: a Mandarin prompt needs a
voice Twilio lists for Mandarin; a voicemail's greeting must end before the message; callbacks
get lost, duplicated or reordered; a create's answer gets lost.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import col, select

from db.models import AuditEvent, NotificationAttempt
from domain.policy import StepSpec
from tests.harness.stack import LiveStack

HUMAN_1: dict[str, Any] = {"answer": "human", "digits": ["1"]}
SILENT: dict[str, Any] = {"answer": "human", "digits": [""]}
NEVER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}


def _calls(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in view["attempts"] if a["channel"] == "call"]


async def _audit_kinds(stack: LiveStack, refund_id: str) -> list[str]:
    async with stack.services.sessions() as session:
        rows = await session.exec(
            select(AuditEvent.kind)
            .where(AuditEvent.refund_id == refund_id)
            .order_by(col(AuditEvent.id))
        )
        return list(rows.all())


async def _close(stack: LiveStack, refund_id: str) -> None:
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-close-{refund_id}"},
    )


async def test_a_mandarin_merchant_hears_the_prompt_in_a_mandarin_voice_and_answers(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [HUMAN_1]}], language="zh-CN")
    body = stack.refund_body(merchant_id, deadline_in=20)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(body["refund_id"], lambda v: v["merchant_answer"] == "handle_now")
    (call,) = _calls(view)
    log = await stack.sandbox_log()
    said = [e for e in log if e["sid"] == call["provider_sid"] and e["kind"] == "say"]
    assert said, "the prompt was spoken"
    assert {(e["voice"], e["language"]) for e in said} == {("Polly.Zhiyu-Neural", "cmn-CN")}
    assert not [
        e for e in log if e["sid"] == call["provider_sid"] and e["kind"] == "say.unsupported"
    ]
    await _close(stack, body["refund_id"])


async def test_a_voicemail_gets_the_whole_message_after_its_greeting_and_escalation_goes_on(
    stack: LiveStack,
) -> None:
    voicemail = {"answer": "machine", "greeting_seconds": 12}
    merchant_id, _ = await stack.merchant([{"calls": [voicemail]}, {"calls": [HUMAN_1]}])
    body = stack.refund_body(merchant_id, deadline_in=20)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(body["refund_id"], lambda v: v["merchant_answer"] == "handle_now")
    machine = [c for c in _calls(view) if str(c["answered_by"]).startswith("machine_end")]
    assert machine, "the voicemail was recognised at the end of its greeting"
    for call in machine:
        found = (await stack.sandbox.get(f"/sandbox/calls/{call['provider_sid']}")).json()
        left = found["voicemail"]
        # The prompt a person would hear at once plays over the greeting (asynchronous
        # detection); the voicemail message starts after the beep and is kept whole.
        texted = "We sent you a text message with a link"
        message = [h for h in left["heard"] if texted in h["text"]]
        assert message, left
        assert all(h["recorded"] is True for h in message), left
        assert "will be approved automatically" in left["recorded_text"], left
    assert _calls(view)[-1]["answered_by"] == "human", "then the backup contact answered"
    assert "call.answered_by" in await _audit_kinds(stack, body["refund_id"])
    await _close(stack, body["refund_id"])


async def test_a_lost_final_call_status_is_read_from_twilio_and_acted_on(stack: LiveStack) -> None:
    """The merchant picks up (and says nothing); the final callback never comes. The watch
    reads Twilio's record of the call: a person heard it, so the step is not called again."""
    merchant_id, phones = await stack.merchant([{"calls": [SILENT]}])
    await stack.behave(
        phones[0],
        {"calls": [SILENT], "faults": {"lose_callbacks": ["final"], "channels": ["call"]}},
    )
    body = stack.refund_body(merchant_id, deadline_in=20)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_view(refund_id, lambda v: bool(_calls(v)))
    # The first call step's result timeout (6 s) passes; the lookup finds "completed".
    await stack.wait_for(lambda: _kind_seen(stack, refund_id, "call.looked_up"), timeout=20)
    view = await stack.view(refund_id)
    first = [c for c in _calls(view) if c["step"] == "first_call"]
    assert len(first) == 1, "heard by a person: no retry of the first call"
    assert first[0]["status"] == "completed"
    history = first[0]["status_history"]
    assert [e for e in history if e.get("source") == "lookup" and e["status"] == "completed"]
    await _close(stack, refund_id)


@pytest.fixture
async def wide_sms_gap(stack: LiveStack) -> AsyncIterator[None]:
    """The session's ladder leaves 4 s between the SMS and the first call, and the lookup
    comes 3 s after the send: on a busy machine the call ran before the lookup could move
    it. Here the first call waits 16 s after the SMS, so "brings the call forward" has room;
    the session's policy is put back after."""
    before = stack.services.policy
    stack.services.policy = replace(
        before,
        steps=[
            StepSpec(name="in_app_notice", channel="in_app"),
            StepSpec(name="sms_reminder", channel="sms", before_deadline_s=30),
            StepSpec(name="first_call", channel="call", before_deadline_s=14),
            StepSpec(name="final_call", channel="call", before_deadline_s=4),
        ],
    )
    yield
    stack.services.policy = before


@pytest.mark.usefixtures("wide_sms_gap")
async def test_a_lost_sms_failure_is_read_from_twilio_and_brings_the_call_forward(
    stack: LiveStack,
) -> None:
    undelivered = {
        "sms": [{"status": "undelivered", "error_code": 30003}],
        **NEVER,
        "faults": {"lose_callbacks": ["final"], "channels": ["sms"]},
    }
    merchant_id, phones = await stack.merchant([undelivered])
    await stack.behave(phones[0], undelivered)
    body = stack.refund_body(merchant_id, deadline_in=40)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_for(lambda: _kind_seen(stack, refund_id, "step.moved_earlier"), timeout=35)
    kinds = await _audit_kinds(stack, refund_id)
    assert "sms.looked_up" in kinds
    assert kinds.index("sms.looked_up") < kinds.index("step.moved_earlier")
    view = await stack.view(refund_id)
    (sms,) = [a for a in view["attempts"] if a["channel"] == "sms"]
    assert sms["status"] == "undelivered" and sms["error_code"] == 30003
    await _close(stack, refund_id)


async def test_duplicated_and_reordered_callbacks_change_nothing(stack: LiveStack) -> None:
    shaky = {
        "calls": [HUMAN_1],
        "faults": {"duplicate_callbacks": True, "reorder_callbacks": "reverse"},
    }
    merchant_id, phones = await stack.merchant([shaky])
    await stack.behave(phones[0], shaky)
    body = stack.refund_body(merchant_id, deadline_in=20)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_view(refund_id, lambda v: v["merchant_answer"] == "handle_now")

    async def settled() -> bool:
        view = await stack.view(refund_id)
        return all(
            a["status"] in ("delivered", "completed")
            for a in view["attempts"]
            if a["channel"] != "in_app"
        )

    await stack.wait_for(settled, timeout=20)
    view = await stack.view(refund_id)
    for attempt in view["attempts"]:
        statuses = [e["status"] for e in attempt["status_history"] if e.get("source") == "provider"]
        assert len(statuses) == len(set(statuses)), f"a status recorded twice: {statuses}"
        assert attempt["status"] in ("delivered", "completed"), "a late 'sent' did not win"
    assert len(view["responses"]) == 1
    await _close(stack, refund_id)


async def _the_sms(stack: LiveStack, refund_id: str) -> NotificationAttempt | None:
    async with stack.services.sessions() as session:
        rows = await session.exec(
            select(NotificationAttempt).where(
                NotificationAttempt.refund_id == refund_id,
                NotificationAttempt.channel == "sms",
            )
        )
        return rows.one_or_none()


async def _sent_to(stack: LiveStack, phone: str) -> list[dict[str, Any]]:
    log = await stack.sandbox_log()
    return [e for e in log if e["kind"] == "message.created" and e.get("to") == phone]


async def test_an_sms_whose_create_answer_was_lost_is_named_by_its_callback(
    stack: LiveStack,
) -> None:
    """The create's answer is lost but the send went out: its first status callback (our
    callback URL carries the attempt's key) names the SID, and the retry does not send again."""
    ambiguous = {"sms": [{"lose_create_response": True}], **NEVER}
    merchant_id, phones = await stack.merchant([ambiguous])
    await stack.behave(phones[0], ambiguous)
    body = stack.refund_body(merchant_id, deadline_in=30)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]

    async def named() -> bool:
        attempt = await _the_sms(stack, refund_id)
        return (
            attempt is not None
            and attempt.provider_sid is not None
            and attempt.status == "delivered"
        )

    await stack.wait_for(named, timeout=25)
    created = await _sent_to(stack, phones[0])
    assert len(created) == 1, "sent once"
    attempt = await _the_sms(stack, refund_id)
    assert attempt is not None
    assert attempt.provider_sid == created[0]["sid"]
    await _close(stack, refund_id)


async def test_an_sms_whose_answer_and_callbacks_were_lost_is_found_at_twilio(
    stack: LiveStack,
) -> None:
    """No answer to the create and no callback either: the retry lists the sends to that number
    at Twilio, finds the one with our text and adopts it, instead of sending again."""
    ambiguous = {
        "sms": [{"lose_create_response": True}],
        **NEVER,
        "faults": {"lose_callbacks": ["all"], "channels": ["sms"]},
    }
    merchant_id, phones = await stack.merchant([ambiguous])
    await stack.behave(phones[0], ambiguous)
    body = stack.refund_body(merchant_id, deadline_in=30)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_for(lambda: _kind_seen(stack, refund_id, "send.found"), timeout=25)
    created = await _sent_to(stack, phones[0])
    assert len(created) == 1, "sent once"
    attempt = await _the_sms(stack, refund_id)
    assert attempt is not None
    assert attempt.provider_sid == created[0]["sid"], "the one sent is adopted as ours"
    assert attempt.status != "unknown"
    assert [e for e in attempt.status_history if e.get("how") == "found"]
    await _close(stack, refund_id)


async def _kind_seen(stack: LiveStack, refund_id: str, kind: str) -> bool:
    return kind in await _audit_kinds(stack, refund_id)
