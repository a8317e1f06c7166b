"""Voice calls: keypad answers, answering machines, silence, one call for several refunds."""

from __future__ import annotations

from tests.harness.stack import LiveStack


async def _close(stack: LiveStack, refund_id: str) -> None:
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
    )


def _calls(view: dict[str, object]) -> list[dict[str, object]]:
    return [a for a in view["attempts"] if a["channel"] == "call"]  # type: ignore[attr-defined]


async def test_keypad_2_records_a_dispute_and_opens_the_evidence_window(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "human", "digits": ["2"]}]}])
    body = stack.refund_body(merchant_id, deadline_in=18)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(body["refund_id"], lambda v: v["merchant_answer"] == "dispute")
    assert [(r["channel"], r["action"], r["raw"]) for r in view["responses"]] == [
        ("call", "dispute", "2")
    ]
    view = await stack.wait_view(body["refund_id"], lambda v: v["stage"] == "disputed")
    await _close(stack, body["refund_id"])
    assert await stack.outcome(body["refund_id"]) == "resolved"
    assert len(_calls(await stack.view(body["refund_id"]))) == 1


async def test_answering_machine_is_not_an_answer_backup_contact_is_called(
    stack: LiveStack,
) -> None:
    merchant_id, phones = await stack.merchant(
        [{"calls": [{"answer": "machine"}]}, {"calls": [{"answer": "human", "digits": ["1"]}]}]
    )
    body = stack.refund_body(merchant_id, deadline_in=20)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(body["refund_id"], lambda v: v["merchant_answer"] == "handle_now")
    calls = _calls(view)
    # Detection waits for the end of the greeting (DetectMessageEnd), so the message lands whole.
    machine = [c for c in calls if str(c["answered_by"] or "").startswith("machine_end")]
    assert len(machine) == 2, "the primary (a voicemail) is retried once, then the backup"
    assert phones[1][-4:] in str(calls[-1]["to"]) and calls[-1]["answered_by"] == "human"
    log = await stack.sandbox_log()
    machine_sids = {c["provider_sid"] for c in machine}
    said = [e for e in log if e["kind"] == "say" and e["sid"] in machine_sids]
    assert said, "a short message is left on the voicemail"
    # With asynchronous detection the prompt plays over the greeting and its <Gather> may
    # start listening before the detection result updates the call (on a busy machine it
    # does): a machine's gather hears nothing, and nothing it "pressed" becomes an answer.
    machine_gathers = [e for e in log if e["kind"] == "gather" and e["sid"] in machine_sids]
    assert not [e for e in machine_gathers if e.get("digits")], machine_gathers
    assert view["merchant_answer"] == "handle_now" and len(view["responses"]) == 1
    await _close(stack, body["refund_id"])


async def test_silence_repeats_the_script_once_then_hangs_up(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "human", "digits": []}]}])
    body = stack.refund_body(merchant_id, deadline_in=18)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(
        body["refund_id"], lambda v: any(c["status"] == "completed" for c in _calls(v))
    )
    sid = next(c["provider_sid"] for c in _calls(view) if c["status"] == "completed")
    log = await stack.sandbox_log()
    gathers = [e for e in log if e["kind"] == "gather" and e["sid"] == sid]
    assert len(gathers) == 2, "asked twice, then hung up"
    assert view["responses"] == []
    await _close(stack, body["refund_id"])


async def test_one_call_walks_the_merchant_through_all_open_refunds(stack: LiveStack) -> None:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "human", "digits": ["1", "2"]}]}])
    urgent = stack.refund_body(merchant_id, deadline_in=18)
    later = stack.refund_body(merchant_id, deadline_in=900)
    for body in (urgent, later):
        assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(later["refund_id"], lambda v: v["merchant_answer"] == "dispute")
    assert view["responses"][0]["channel"] == "call"
    assert _calls(view) == [], "answered on the other refund's call: no call of its own"
    await stack.wait_view(later["refund_id"], lambda v: v["stage"] == "disputed")
    first = await stack.view(urgent["refund_id"])
    assert first["merchant_answer"] == "handle_now"
    assert len(_calls(first)) == 1
    for body in (urgent, later):
        await _close(stack, body["refund_id"])
