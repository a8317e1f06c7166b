"""Whole refunds through the real stack: dev server, PostgreSQL, sandbox over HTTP."""

from __future__ import annotations

from datetime import datetime

from tests.harness.stack import LiveStack

ANSWERS_1 = {"calls": [{"answer": "human", "digits": ["1"]}]}
NEVER = {"calls": [{"answer": "no-answer"}]}


async def test_merchant_presses_1_then_platform_resolves_saved(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([ANSWERS_1])
    body = stack.refund_body(merchant_id, deadline_in=18)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    view = await stack.wait_view(refund_id, lambda v: v["merchant_answer"] == "handle_now")
    assert view["responses"][0]["channel"] == "call"
    assert view["responses"][0]["raw"] == "1"
    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
    )
    assert response.status_code == 200
    assert await stack.outcome(refund_id) == "resolved"
    view = await stack.view(refund_id)
    assert view["state"] == "resolved"
    assert view["resolution"] == "rejected"
    assert view["loss"] is None
    calls = [a for a in view["attempts"] if a["channel"] == "call"]
    assert len(calls) == 1, "escalation must stop after the merchant answered"
    assert calls[0]["status"] == "completed"
    assert len(view["responses"]) == 1
    timeline = (
        await stack.http.get(f"/v1/refunds/{refund_id}/timeline", headers=stack.support())
    ).json()
    kinds = [entry["kind"] for entry in timeline]
    for expected in ("notice.in_app", "send.sms", "send.call", "merchant.answered",
                     "escalation.stopped", "platform.resolution", "refund.resolved"):  # fmt: skip
        assert expected in kinds, expected
    times = [datetime.fromisoformat(entry["at"]) for entry in timeline]
    assert times == sorted(times)


async def test_platform_resolution_ends_the_watch_before_any_sms(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([NEVER])
    body = stack.refund_body(merchant_id, deadline_in=40)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")
    resolution = {"resolution": "approved", "event_id": f"ev-{refund_id}"}
    for _ in range(2):  # the platform retries: the second is a no-op
        response = await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution", headers=stack.platform(), json=resolution
        )
        assert response.status_code == 200
    assert response.json()["duplicate"] is True
    assert await stack.outcome(refund_id) == "resolved"
    view = await stack.view(refund_id)
    assert [a["channel"] for a in view["attempts"]] == ["in_app"]
    assert view["resolution"] == "approved"
    assert view["loss"] is None


async def test_nobody_answers_times_out_and_the_loss_is_recorded(stack: LiveStack) -> None:
    merchant_id, phones = await stack.merchant([NEVER, {"calls": [{"answer": "busy"}]}])
    body = stack.refund_body(merchant_id, deadline_in=18, amount="8999.00")
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    assert await stack.outcome(refund_id, timeout=60) == "timed_out"
    view = await stack.view(refund_id)
    assert view["state"] == "timed_out"
    assert view["loss"] == "8999.00"
    calls = [a for a in view["attempts"] if a["channel"] == "call"]
    # Primary retried once, then the backup contact, on the first call step at least.
    first = [a for a in calls if a["step"] == "first_call"]
    assert [a["attempt"] for a in first][:2] == [1, 2]
    assert {a["status"] for a in first} <= {"no-answer", "busy"}
    assert any(phones[1][-4:] in (a["to"] or "") for a in first), "backup contact not called"
    log = await stack.sandbox_log()
    assert all(phones[0] not in str(a["to"]) for a in view["attempts"]), "numbers must be masked"
    assert any(e.get("to") == phones[1] for e in log)


async def test_undeliverable_sms_brings_the_call_forward(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant(
        [{"sms": [{"status": "undelivered", "error_code": 30003}], **ANSWERS_1}]
    )
    body = stack.refund_body(merchant_id, deadline_in=40)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    view = await stack.wait_view(refund_id, lambda v: v["merchant_answer"] == "handle_now")
    sms = next(a for a in view["attempts"] if a["channel"] == "sms")
    call = next(a for a in view["attempts"] if a["channel"] == "call")
    assert sms["status"] == "undelivered"
    assert sms["error_code"] == 30003
    planned_call = datetime.fromisoformat(view["deadline_at"]).timestamp() - 11
    call_at = datetime.fromisoformat(call["created_at"]).timestamp()
    assert call_at < planned_call - 1.5, "the call should not wait for its planned time"
    timeline = (
        await stack.http.get(f"/v1/refunds/{refund_id}/timeline", headers=stack.support())
    ).json()
    moved = [e for e in timeline if e["kind"] == "step.moved_earlier"]
    assert moved
    assert "undelivered" in moved[0]["detail"]["reason"]
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
    )
    assert await stack.outcome(refund_id) == "resolved"
