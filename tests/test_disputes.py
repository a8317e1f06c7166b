"""Disputes end to end on the real stack: keypad 2 → evidence → the platform told; evidence
window missed; one-click rejection in the app and by keypad; a buyer's history raises the next
refund's score. Policy: tests/policy.yaml (evidence window 16 s, reminders at 12/8/4 s before).
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.auth import merchant_token
from tests.harness.stack import LiveStack

NO_ANSWER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _merchant(stack: LiveStack, merchant_id: str) -> dict[str, str]:
    secret = stack.settings.merchant_token_secret.get_secret_value()
    return {"Authorization": f"Bearer {merchant_token(secret, merchant_id)}"}


async def _answer(
    stack: LiveStack, merchant_id: str, refund_id: str, action: str
) -> httpx.Response:
    return await stack.http.post(
        f"/v1/merchant/refunds/{refund_id}/answer",
        headers=_merchant(stack, merchant_id),
        json={"action": action, "request_id": f"req-{uuid.uuid4().hex[:8]}"},
    )


async def _events(stack: LiveStack, refund_id: str, count: int) -> list[dict[str, Any]]:
    """The refund's outbound platform events, once ``count`` of them were acknowledged."""
    events: list[dict[str, Any]] = []
    for _ in range(150):
        response = await stack.http.get(
            f"/v1/support/refunds/{refund_id}/outbound-events", headers=stack.support()
        )
        assert response.status_code == 200, response.text
        events = response.json()
        if sum(1 for event in events if event["delivered_at"]) >= count:
            _verified_once_by_the_platform(stack, events)
            return events
        await asyncio.sleep(0.3)
    raise AssertionError(f"{count} delivered events expected; found {events}")


def _verified_once_by_the_platform(stack: LiveStack, events: list[dict[str, Any]]) -> None:
    """The test platform checked each delivered event's signature and acknowledged it once."""
    assert stack.receiver is not None
    for event in events:
        if event["delivered_at"]:
            assert stack.receiver.acknowledgements(event["event_id"]) == 1, event
            received = stack.receiver.events[event["event_id"]]
            assert received.type == event["type"]


async def test_keypad_2_then_evidence_in_time_tells_the_platform_and_waits_for_its_decision(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "human", "digits": ["2"]}]}])
    body = stack.refund_body(merchant_id, deadline_in=25)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201

    view = await stack.wait_view(refund_id, lambda v: v["stage"] == "disputed")
    assert [(r["channel"], r["action"]) for r in view["responses"]] == [("call", "dispute")]

    upload = await stack.http.post(
        f"/v1/refunds/{refund_id}/evidence",
        headers=_merchant(stack, merchant_id),
        data={"category": "empty_package", "note": "scale photo", "request_id": "ev-1"},
        files=[("files", ("scale.png", PNG, "image/png"))],
    )
    assert upload.status_code == 201, upload.text
    await stack.wait_view(refund_id, lambda v: v["stage"] == "evidence_submitted")

    events = await _events(stack, refund_id, 2)
    assert [e["type"] for e in events] == ["refund.disputed", "refund.evidence_submitted"]
    submitted = events[1]["payload"]["data"]["evidence"]
    assert submitted["category"] == "empty_package"
    assert [f["name"] for f in submitted["files"]] == ["scale.png"]

    # The platform upholds the dispute: the buyer's refund is rejected, before the deadline.
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
    )
    assert await stack.outcome(refund_id) == "resolved"
    assert (await stack.view(refund_id))["loss"] is None


async def test_evidence_window_missed_is_recorded_like_a_timeout(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([NO_ANSWER])
    body = stack.refund_body(merchant_id, deadline_in=120)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")
    disputed = await _answer(stack, merchant_id, refund_id, "dispute")
    assert disputed.status_code == 200, disputed.text

    assert await stack.outcome(refund_id, timeout=60) == "evidence_missed"
    view = await stack.view(refund_id)
    assert view["loss"] is not None
    steps = {a["step"] for a in view["attempts"]}
    assert {"evidence_in_app", "evidence_sms", "evidence_call"} <= steps, steps
    late = await stack.http.post(
        f"/v1/refunds/{refund_id}/evidence",
        headers=_merchant(stack, merchant_id),
        data={"category": "other", "note": "too late", "request_id": "ev-late"},
    )
    assert late.status_code == 409, late.text
    events = await _events(stack, refund_id, 2)
    assert [e["type"] for e in events] == ["refund.disputed", "refund.evidence_missed"]


async def test_one_click_rejection_in_the_app_attaches_the_risk_reasons(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([NO_ANSWER])
    body = stack.refund_body(merchant_id, deadline_in=120)  # empty package: abnormal
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")

    rejected = await _answer(stack, merchant_id, refund_id, "reject")
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["recorded"] == "reject"
    await stack.wait_view(refund_id, lambda v: v["stage"] == "rejected")
    again = await _answer(stack, merchant_id, refund_id, "dispute")
    assert again.status_code == 409 and "already under a reject" in again.text

    evidence = await stack.http.get(
        f"/v1/support/refunds/{refund_id}/evidence", headers=stack.support()
    )
    assert evidence.status_code == 200, evidence.text
    [submission] = evidence.json()
    assert submission["source"] == "risk_gate"
    codes = [reason["code"] for reason in submission["details"]["reasons"]]
    assert "logistics.empty_package" in codes
    events = await _events(stack, refund_id, 1)
    assert [e["type"] for e in events] == ["refund.rejected"]


async def test_one_click_rejection_is_refused_where_nothing_abnormal_was_found(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([NO_ANSWER])
    body = stack.refund_body(merchant_id, deadline_in=120, amount="90000.00", signals={})
    refund_id = body["refund_id"]
    created = await stack.intake(body)
    assert created.status_code == 201 and created.json()["tracked"], created.text
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")

    refused = await _answer(stack, merchant_id, refund_id, "reject")
    assert refused.status_code == 409, refused.text
    assert "only for refunds the risk gate marked abnormal" in refused.json()["detail"]
    assert (await stack.view(refund_id))["responses"] == []
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "approved", "event_id": f"ev-{refund_id}"},
    )
    assert await stack.outcome(refund_id) == "resolved"


async def test_keypad_3_rejects_an_abnormal_refund_on_the_call(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "human", "digits": ["3"]}]}])
    body = stack.refund_body(merchant_id, deadline_in=25)
    refund_id = body["refund_id"]
    assert (await stack.intake(body)).status_code == 201

    view = await stack.wait_view(refund_id, lambda v: v["stage"] == "rejected")
    assert [(r["channel"], r["action"]) for r in view["responses"]] == [("call", "reject")]
    said = [
        entry
        for entry in await stack.sandbox_log()
        if entry.get("kind") == "say" and "Press 3 to reject" in str(entry.get("text", ""))
    ]
    assert said, "the call offered one-click rejection"
    events = await _events(stack, refund_id, 1)
    assert [e["type"] for e in events] == ["refund.rejected"]


async def test_a_second_refund_from_the_same_buyer_scores_higher_because_of_the_first(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([NO_ANSWER])
    buyer = f"b-{uuid.uuid4().hex[:8]}"
    signals = {"buyer_id": buyer, "logistics": ["empty_package"]}
    first = stack.refund_body(merchant_id, deadline_in=120, signals=signals)
    first_id = first["refund_id"]
    assert (await stack.intake(first)).status_code == 201
    await stack.wait_view(first_id, lambda v: v["stage"] == "in_app_sent")
    assert (await _answer(stack, merchant_id, first_id, "reject")).status_code == 200
    await stack.wait_view(first_id, lambda v: v["stage"] == "rejected")
    await stack.http.post(
        f"/v1/refunds/{first_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{first_id}"},
    )
    assert await stack.outcome(first_id) == "resolved"

    later = datetime.now(UTC) + timedelta(seconds=120)
    second = stack.refund_body(merchant_id, deadline_in=120, signals=signals)
    stranger = stack.refund_body(
        merchant_id, deadline_in=120, signals={**signals, "buyer_id": "b-stranger-" + buyer}
    )
    second["deadline_at"] = stranger["deadline_at"] = later.isoformat()
    again = (await stack.intake(second)).json()
    fresh = (await stack.intake(stranger)).json()
    assert again["risk"]["score"] > fresh["risk"]["score"], (again, fresh)
    codes = {reason["code"] for reason in again["risk"]["reasons"] if reason["points"] > 0}
    assert {"buyer.prior_disputes_upheld", "buyer.prior_refunds_rejected"} <= codes, again
