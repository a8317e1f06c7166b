"""Twilio webhooks: signatures are checked before anything is recorded; duplicates are no-ops."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlmodel import select
from twilio.request_validator import RequestValidator

from db.models import Contact, NotificationAttempt
from tests.harness.stack import LiveStack


def _sign(
    stack: LiveStack, path_and_query: str, params: dict[str, str], token: str | None = None
) -> str:
    secret = token or stack.settings.twilio_auth_token.get_secret_value()
    url = stack.settings.public_base_url + path_and_query
    signature: str = RequestValidator(secret).compute_signature(url, params)
    return signature


async def _attempt(stack: LiveStack, key: str) -> NotificationAttempt:
    async with stack.services.sessions() as session:
        statement = select(NotificationAttempt).where(NotificationAttempt.idempotency_key == key)
        return (await session.exec(statement)).one()


async def _sent_sms(stack: LiveStack) -> tuple[str, dict[str, Any]]:
    merchant_id, _ = await stack.merchant([{"calls": [{"answer": "no-answer"}]}])
    body = stack.refund_body(merchant_id, deadline_in=17)
    assert (await stack.intake(body)).status_code == 201
    view = await stack.wait_view(
        body["refund_id"],
        lambda v: any(a["channel"] == "sms" and a["status"] == "delivered" for a in v["attempts"]),
    )
    return body["refund_id"], next(a for a in view["attempts"] if a["channel"] == "sms")


async def test_bad_missing_or_foreign_signature_is_403_and_nothing_recorded(
    stack: LiveStack,
) -> None:
    refund_id, sms = await _sent_sms(stack)
    key = f"refund-{refund_id}:sms_reminder:c0:a1"
    before = await _attempt(stack, key)
    path = f"/twilio/status/sms?key={quote(key, safe='')}"
    params = {"MessageSid": sms["provider_sid"], "MessageStatus": "failed", "ErrorCode": "30005"}
    forged = {
        "missing": {},
        "garbage": {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        "other token": {"X-Twilio-Signature": _sign(stack, path, params, token="someone-else")},
        "other url": {"X-Twilio-Signature": _sign(stack, "/twilio/status/sms?key=x", params)},
    }
    for name, headers in forged.items():
        response = await stack.http.post(path, data=params, headers=headers)
        assert response.status_code == 403, name
        assert "X-Twilio-Signature" in response.json()["detail"]
    after = await _attempt(stack, key)
    assert after.status_history == before.status_history
    assert after.status == "delivered"
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-{refund_id}"},
    )


async def test_forged_stop_does_not_opt_anyone_out(stack: LiveStack) -> None:
    _merchant_id, phones = await stack.merchant([{}])
    params = {
        "MessageSid": "SM" + "1" * 32,
        "From": phones[0],
        "To": "+14155550000",
        "Body": "STOP",
    }
    response = await stack.http.post(
        "/twilio/sms", data=params, headers={"X-Twilio-Signature": "forged"}
    )
    assert response.status_code == 403
    async with stack.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.phone == phones[0]))).one()
        assert contact.sms_opted_out is False
    signed = await stack.http.post(
        "/twilio/sms",
        data=params,
        headers={"X-Twilio-Signature": _sign(stack, "/twilio/sms", params)},
    )
    assert signed.status_code == 200
    async with stack.services.sessions() as session:
        contact = (await session.exec(select(Contact).where(Contact.phone == phones[0]))).one()
        assert contact.sms_opted_out is True


async def test_duplicated_callbacks_change_nothing(stack: LiveStack) -> None:
    refund_id, sms = await _sent_sms(stack)
    key = f"refund-{refund_id}:sms_reminder:c0:a1"
    path = f"/twilio/status/sms?key={quote(key, safe='')}"
    # The sandbox already delivered "sent" and "delivered"; Twilio may send them again.
    params = {
        "MessageSid": sms["provider_sid"],
        "MessageStatus": "delivered",
        "SmsStatus": "delivered",
    }
    before = await _attempt(stack, key)
    for _ in range(3):
        response = await stack.http.post(
            path, data=params, headers={"X-Twilio-Signature": _sign(stack, path, params)}
        )
        assert response.status_code == 204
    after = await _attempt(stack, key)
    assert after.status_history == before.status_history
    assert [e["status"] for e in after.status_history].count("delivered") == 1
    await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-{refund_id}"},
    )
