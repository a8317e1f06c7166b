"""A retried send activity never sends twice (real PostgreSQL, in-memory notifier)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.sends import SendActivities, SendConfig
from activities.types import SendInput
from domain.vocabulary import SendStatus
from notifier import (
    AmbiguousProviderError,
    FakeNotifier,
    FinalProviderError,
    RetryableProviderError,
)
from pacing import Pacer, PacingConfig
from tests.harness.stack import LiveStack


async def _setup(
    stack: LiveStack, *, settle_after_s: float = 20.0
) -> tuple[SendActivities, FakeNotifier, str, str, str]:
    merchant_id, phones = await stack.merchant([{}])
    body = stack.refund_body(merchant_id, amount="15.00", signals={})  # untracked: no workflow
    assert (await stack.intake(body)).status_code == 201
    fake = FakeNotifier()
    config = SendConfig(public_base_url="http://rw.test", settle_after_s=settle_after_s)
    activities = SendActivities(stack.services.sessions, fake, config)
    return activities, fake, body["refund_id"], merchant_id, phones[0]


def _request(refund_id: str, merchant_id: str, step: str = "sms_reminder") -> SendInput:
    return SendInput(refund_id, merchant_id, f"wf-{refund_id}", step, 0, 1)


async def test_second_run_of_the_same_send_returns_the_first_result(stack: LiveStack) -> None:
    activities, fake, refund_id, merchant_id, _ = await _setup(stack)
    env = ActivityEnvironment()
    request = _request(refund_id, merchant_id)
    first = await env.run(activities.send_sms, request)
    second = await env.run(activities.send_sms, request)
    assert first.status == second.status == SendStatus.ACCEPTED
    assert second.provider_sid == first.provider_sid
    assert len(fake.sent) == 1
    call = _request(refund_id, merchant_id, step="first_call")
    await env.run(activities.place_call, call)
    await env.run(activities.place_call, call)
    assert [s.channel for s in fake.sent] == ["sms", "call"]
    assert "key=wf-" in fake.sent[1].status_callback


async def test_retryable_error_is_sent_again_exactly_once(stack: LiveStack) -> None:
    activities, fake, refund_id, merchant_id, phone = await _setup(stack)
    fake.errors[phone] = [RetryableProviderError("Too Many Requests", code=20429, http_status=429)]
    env = ActivityEnvironment()
    request = _request(refund_id, merchant_id)
    with pytest.raises(ApplicationError, match="provider busy"):
        await env.run(activities.send_sms, request)
    assert (await env.run(activities.send_sms, request)).status == SendStatus.ACCEPTED
    assert (await env.run(activities.send_sms, request)).status == SendStatus.ACCEPTED
    assert len(fake.sent) == 1


async def test_an_ambiguous_send_that_went_out_is_found_and_not_sent_again(
    stack: LiveStack,
) -> None:
    """The create reached the provider but its answer was lost: the retry finds the send in
    the provider's records (same number, same text, no other attempt's) and adopts it."""
    activities, fake, refund_id, merchant_id, phone = await _setup(stack)
    fake.answer_lost.add(phone)
    env = ActivityEnvironment()
    request = _request(refund_id, merchant_id)
    with pytest.raises(ApplicationError, match="ambiguous"):
        await env.run(activities.send_sms, request)
    again = await env.run(activities.send_sms, request)
    assert again.status == SendStatus.ACCEPTED
    assert [item.sid for item in fake.sent] == [again.provider_sid], "adopted, not resent"
    assert (await env.run(activities.send_sms, request)).provider_sid == again.provider_sid


async def test_an_ambiguous_send_that_never_went_out_is_sent_once_it_is_proven_absent(
    stack: LiveStack,
) -> None:
    activities, fake, refund_id, merchant_id, phone = await _setup(stack, settle_after_s=0.5)
    fake.errors[phone] = [AmbiguousProviderError("read timeout")]
    env = ActivityEnvironment()
    request = _request(refund_id, merchant_id)
    with pytest.raises(ApplicationError, match="ambiguous"):
        await env.run(activities.send_sms, request)
    # Too soon to tell: the provider's records may not show a send that is on its way.
    with pytest.raises(ApplicationError, match="do not show this send yet"):
        await env.run(activities.send_sms, request)
    assert fake.sent == []
    await asyncio.sleep(0.6)
    sent = await env.run(activities.send_sms, request)
    assert sent.status == SendStatus.ACCEPTED
    assert len(fake.sent) == 1
    assert (await env.run(activities.send_sms, request)).provider_sid == sent.provider_sid
    assert len(fake.sent) == 1, "sent once, under its key"


async def test_final_errors_fail_over_and_opt_out_sticks(stack: LiveStack) -> None:
    activities, fake, refund_id, merchant_id, phone = await _setup(stack)
    env = ActivityEnvironment()
    fake.errors[phone] = [FinalProviderError("invalid number", code=21211, http_status=400)]
    request = _request(refund_id, merchant_id)
    failed = await env.run(activities.send_sms, request)
    assert (failed.status, failed.error_code) == (SendStatus.FAILED, 21211)
    assert (await env.run(activities.send_sms, request)).status == SendStatus.FAILED
    fake.errors[phone] = [FinalProviderError("unsubscribed", code=21610, http_status=400)]
    opted = await env.run(activities.send_sms, _request(refund_id, merchant_id, "sms_2"))
    assert opted.status == SendStatus.OPTED_OUT
    later = await env.run(activities.send_sms, _request(refund_id, merchant_id, "sms_3"))
    assert later.status == SendStatus.OPTED_OUT
    assert fake.sent == [], "nothing may reach the provider for an opted-out number"
    assert (
        await env.run(activities.place_call, _request(refund_id, merchant_id, "call"))
    ).status == (SendStatus.ACCEPTED), "voice stays allowed after an SMS opt-out"


async def test_sms_per_merchant_per_hour_is_capped(stack: LiveStack) -> None:
    activities, fake, refund_id, merchant_id, _ = await _setup(stack)
    limit = SendConfig(public_base_url="http://rw.test").sms_per_merchant_per_hour
    env = ActivityEnvironment()
    results = [
        await env.run(activities.send_sms, _request(refund_id, merchant_id, f"sms_{i}"))
        for i in range(limit + 2)
    ]
    assert [r.status for r in results] == [SendStatus.ACCEPTED] * limit + [SendStatus.THROTTLED] * 2
    assert len(fake.sent) == limit
    again = await env.run(activities.send_sms, _request(refund_id, merchant_id, f"sms_{limit}"))
    assert again.status == SendStatus.THROTTLED, "a retried throttled send stays throttled"
    call = await env.run(activities.place_call, _request(refund_id, merchant_id, "call"))
    assert call.status == SendStatus.ACCEPTED, "the SMS cap does not touch calls"


async def test_paced_sends_respect_the_rate_and_send_the_bigger_refund_first(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([{}])
    refund_ids = {}
    for label, amount in (("first", "30.00"), ("small", "20.00"), ("big", "60.00")):
        body = stack.refund_body(merchant_id, amount=amount, signals={"logistics": ["no_tracking"]})
        response = await stack.intake(body)
        assert response.status_code == 201 and response.json()["tracked"] is False
        refund_ids[label] = body["refund_id"]
    fake = FakeNotifier()
    pacer = Pacer(stack.services.sessions, PacingConfig(rates={"call": 1, "sms": 1}))
    activities = SendActivities(
        stack.services.sessions, fake, SendConfig(public_base_url="http://rw.test"), pacer
    )
    env = ActivityEnvironment()

    async def call(label: str) -> None:
        await env.run(activities.place_call, _request(refund_ids[label], merchant_id, "c"))

    await call("first")  # takes this second's slot
    small = asyncio.create_task(call("small"))
    await asyncio.sleep(0.2)  # the small refund queues first...
    big = asyncio.create_task(call("big"))
    await asyncio.gather(small, big)
    sent = [item.status_callback for item in fake.sent]
    order = [next(k for k, v in refund_ids.items() if v in url) for url in sent]
    assert order == ["first", "big", "small"], "...but the bigger expected loss goes first"
