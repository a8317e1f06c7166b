"""Sends left not knowing whether they went out are settled from Twilio's records by the
scheduler's provider-records job (scheduler/unanswered.py), on the real stack and sandbox.

The state is the one a ``kill -9`` of the worker between Twilio's answer to a create and our
record of it leaves (the crash run in tests/test_faults.py meets it by chance): the attempt is
``claimed`` with no sid. Here it is made so on purpose, to test every branch: a send Twilio has
is adopted; one Twilio never got is left to the watch while the refund is open, and recorded
``closed`` once it is not; a second pass changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from db.models import AuditEvent, NotificationAttempt, utcnow
from scheduler.jobs import LeaseBusy, SchedulerContext, run_prices
from scheduler.prices import PriceBackfill
from tests.harness.stack import LiveStack

NEVER: dict[str, Any] = {"calls": [{"answer": "no-answer"}]}
AGO = timedelta(minutes=1)  # older than the job's settled_for (30 s)


async def _attempt(stack: LiveStack, key: str) -> NotificationAttempt:
    async with stack.services.sessions() as session:
        statement = select(NotificationAttempt).where(NotificationAttempt.idempotency_key == key)
        return (await session.exec(statement)).one()


async def _kinds(stack: LiveStack, refund_id: str) -> list[str]:
    async with stack.services.sessions() as session:
        rows = await session.exec(select(AuditEvent.kind).where(AuditEvent.refund_id == refund_id))
        return list(rows.all())


async def _forget_the_answer(stack: LiveStack, key: str) -> str:
    """Make the attempt look as if the worker died right after Twilio accepted the create."""
    async with stack.services.sessions() as session:
        statement = select(NotificationAttempt).where(NotificationAttempt.idempotency_key == key)
        attempt = (await session.exec(statement)).one()
        sid = attempt.provider_sid
        assert sid is not None
        attempt.provider_sid = None
        attempt.status = "claimed"
        attempt.status_history = [
            e for e in attempt.status_history if str(e["status"]).startswith("claimed")
        ]
        attempt.updated_at = utcnow() - AGO
        session.add(attempt)
        await session.commit()
        return sid


async def _never_sent(stack: LiveStack, like: NotificationAttempt) -> str:
    """A claim whose create never reached Twilio (an SMS text Twilio has no record of)."""
    key = f"{like.idempotency_key}:never"
    async with stack.services.sessions() as session:
        session.add(
            NotificationAttempt(
                idempotency_key=key,
                refund_id=like.refund_id,
                merchant_id=like.merchant_id,
                contact_id=like.contact_id,
                channel="sms",
                step=like.step,
                attempt=9,
                status="claimed",
                status_history=[{"status": "claimed", "at": (utcnow() - AGO).isoformat()}],
                body="a text Twilio never received",
                created_at=utcnow() - AGO,
                updated_at=utcnow() - AGO,
            )
        )
        await session.commit()
    return key


async def _pass(stack: LiveStack) -> PriceBackfill:
    result = await run_prices(SchedulerContext(stack.settings, stack.services.sessions, "t"))
    assert not isinstance(result, LeaseBusy)
    return result


async def test_claimed_sends_without_a_sid_are_settled_from_twilios_records(
    stack: LiveStack,
) -> None:
    merchant_id, phones = await stack.merchant([NEVER])
    body = stack.refund_body(merchant_id, deadline_in=30)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    view = await stack.wait_view(
        refund_id,
        lambda v: any(a["channel"] == "sms" and a["status"] == "delivered" for a in v["attempts"]),
    )
    sms_sid = next(a["provider_sid"] for a in view["attempts"] if a["channel"] == "sms")
    async with stack.services.sessions() as session:
        statement = select(NotificationAttempt).where(NotificationAttempt.provider_sid == sms_sid)
        sms_key = (await session.exec(statement)).one().idempotency_key
    sid = await _forget_the_answer(stack, sms_key)
    absent_key = await _never_sent(stack, await _attempt(stack, sms_key))

    first = await _pass(stack)
    adopted = await _attempt(stack, sms_key)
    assert adopted.provider_sid == sid, "the send Twilio has is adopted as ours"
    assert [e for e in adopted.status_history if e.get("how") == "found"]
    assert first.unanswered.found >= 1
    left = await _attempt(stack, absent_key)
    assert left.status == "claimed", "an open refund's watch may still try it: left to it"

    response = await stack.http.post(
        f"/v1/refunds/{refund_id}/resolution",
        headers=stack.platform(),
        json={"resolution": "cancelled", "event_id": f"ev-close-{refund_id}"},
    )
    assert response.status_code == 200, response.text
    assert await stack.outcome(refund_id) == "resolved"

    second = await _pass(stack)
    closed = await _attempt(stack, absent_key)
    assert closed.status == "closed", "absent from Twilio's records on a closed refund"
    assert closed.provider_sid is None
    assert second.unanswered.absent >= 1
    kinds = await _kinds(stack, refund_id)
    assert kinds.count("send.found") == 1 and kinds.count("send.absent") == 1, kinds
    sent = [e for e in await stack.sandbox_log() if e["kind"] == "message.created"]
    assert [e["sid"] for e in sent if e.get("to") == phones[0]] == [sid], "nothing sent again"

    await _pass(stack)
    assert (await _attempt(stack, sms_key)).status_history == adopted.status_history
    assert (await _kinds(stack, refund_id)).count("send.absent") == 1, "a second pass: no change"
