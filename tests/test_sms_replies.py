"""Merchants answer by SMS: reply codes per refund, several open refunds, HELP, STOP/START."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from db.models import Contact
from tests.harness.stack import LiveStack

FROM = "+14155550000"


async def _text(stack: LiveStack, phone: str, body: str) -> dict[str, Any]:
    response = await stack.sandbox.post(
        "/sandbox/inbound-sms", json={"from": phone, "to": FROM, "body": body}
    )
    assert response.status_code == 200, response.text
    reply: dict[str, Any] = response.json()
    assert reply["status_code"] == 200
    return reply


async def test_reply_codes_pick_the_right_refund_among_several(stack: LiveStack) -> None:
    merchant_id, phones = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    bodies = [stack.refund_body(merchant_id, deadline_in=600) for _ in range(2)]
    for body in bodies:
        assert (await stack.intake(body)).status_code == 201
        await stack.wait_view(body["refund_id"], lambda v: v["stage"] == "in_app_sent")
    first, second = (b["refund_id"] for b in bodies)

    ambiguous = await _text(stack, phones[0], "1")
    text = " ".join(ambiguous["replies"])
    assert "Which refund" in text and f"{first}: reply 1A" in text and f"{second}: reply 1B" in text
    assert (await stack.view(first))["responses"] == []

    disputed = await _text(stack, phones[0], "2b")
    assert second in " ".join(disputed["replies"])
    view = await stack.wait_view(second, lambda v: v["stage"] == "disputed")
    assert [(r["channel"], r["action"], r["raw"]) for r in view["responses"]] == [
        ("sms", "dispute", "2b")
    ]
    assert (await stack.view(first))["merchant_answer"] is None

    await _text(stack, phones[0], "1A")
    await stack.wait_view(first, lambda v: v["merchant_answer"] == "handle_now")

    unknown = await _text(stack, phones[0], "1C")
    assert "No open refund has the code C" in " ".join(unknown["replies"])
    for refund_id in (first, second):
        await stack.http.post(
            f"/v1/refunds/{refund_id}/resolution",
            headers=stack.platform(),
            json={"resolution": "rejected", "event_id": f"ev-{refund_id}"},
        )


async def test_sms_text_names_its_code_and_lists_other_open_refunds(stack: LiveStack) -> None:
    merchant_id, phones = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    early = stack.refund_body(merchant_id, deadline_in=600)
    soon = stack.refund_body(merchant_id, deadline_in=18)
    for body in (early, soon):
        assert (await stack.intake(body)).status_code == 201
    await stack.wait_view(
        soon["refund_id"], lambda v: any(a["channel"] == "sms" for a in v["attempts"])
    )
    messages = (await stack.sandbox.get("/sandbox/messages")).json()
    sms = next(m for m in messages if m["to"] == phones[0])
    assert "Reply 1B to handle it now, 2B if it is abnormal, 3B to reject it" in sms["body"]
    assert f"Also open: {early['refund_id']}" in sms["body"] and "1A/2A" in sms["body"]
    for body in (early, soon):
        await stack.http.post(
            f"/v1/refunds/{body['refund_id']}/resolution",
            headers=stack.platform(),
            json={"resolution": "cancelled", "event_id": f"ev-{body['refund_id']}"},
        )


async def test_help_stop_and_start(stack: LiveStack) -> None:
    _, phones = await stack.merchant([{}])
    assert "Reply STOP" in " ".join((await _text(stack, phones[0], "HELP"))["replies"])
    await _text(stack, phones[0], "STOP")
    async with stack.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.phone == phones[0]))).one()
        assert contact.sms_opted_out is True
    await _text(stack, phones[0], "START")
    async with stack.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.phone == phones[0]))).one()
        assert contact.sms_opted_out is False
    gibberish = await _text(stack, phones[0], "what is this")
    assert "did not understand" in " ".join(gibberish["replies"])


async def test_21610_on_send_records_the_opt_out_and_calls_early(stack: LiveStack) -> None:
    merchant_id, phones = await stack.merchant(
        [
            {
                "create_error": {"code": 21610, "status": 400, "channel": "sms",
                                 "message": "Attempt to send to unsubscribed recipient"},
                "calls": [{"answer": "human", "digits": ["1"]}],
            }
        ]
    )  # fmt: skip
    body = stack.refund_body(merchant_id, deadline_in=40)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(body["refund_id"], lambda v: v["merchant_answer"] == "handle_now")
    sms = next(a for a in view["attempts"] if a["channel"] == "sms")
    assert (sms["status"], sms["error_code"]) == ("opted_out", 21610)
    call = next(a for a in view["attempts"] if a["channel"] == "call")
    planned = datetime.fromisoformat(view["deadline_at"]).timestamp() - 11
    assert datetime.fromisoformat(call["created_at"]).timestamp() < planned - 1.5
    async with stack.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.phone == phones[0]))).one()
        assert contact.sms_opted_out is True, "the opt-out is remembered for later SMS"
    await stack.http.post(
        f"/v1/refunds/{body['refund_id']}/resolution",
        headers=stack.platform(),
        json={"resolution": "rejected", "event_id": f"ev-{body['refund_id']}"},
    )


async def _opted_out(stack: LiveStack, phone: str) -> bool:
    async with stack.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.phone == phone))).one()
        return contact.sms_opted_out


async def test_revoke_and_optout_are_twilios_opt_out_words_too(stack: LiveStack) -> None:
    _, phones = await stack.merchant([{}])
    for word in ("revoke", "OPTOUT"):
        reply = await _text(stack, phones[0], word)
        assert reply["replies"] == [], "Twilio sends its own confirmation for its keywords"
        assert await _opted_out(stack, phones[0]), word
        await _text(stack, phones[0], "START")
        assert not await _opted_out(stack, phones[0])


async def test_tuiding_and_td_opt_out_in_our_record_and_stop_our_sms(stack: LiveStack) -> None:
    """退订 / TD are how merchants in China unsubscribe; Twilio does not know them (nothing is
    blocked on its side), so our record must, and our send path honours it."""
    merchant_id, phones = await stack.merchant(
        [{"calls": [{"answer": "no-answer"}]}], language="zh-CN"
    )
    for word in ("退订", "td"):
        reply = await _text(stack, phones[0], word)
        assert any("退订" in text for text in reply["replies"]), "we confirm our own keywords"
        assert await _opted_out(stack, phones[0]), word
    body = stack.refund_body(merchant_id, deadline_in=25)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(
        body["refund_id"], lambda v: any(a["channel"] == "sms" for a in v["attempts"])
    )
    (sms,) = [a for a in view["attempts"] if a["channel"] == "sms"]
    assert sms["status"] == "opted_out" and sms["provider_sid"] is None, "never sent to Twilio"
    log = await stack.sandbox_log()
    assert not [e for e in log if e["kind"] == "message.created" and e.get("to") == phones[0]]
    await stack.http.post(
        f"/v1/refunds/{body['refund_id']}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-{body['refund_id']}"},
    )
