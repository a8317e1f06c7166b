"""An answer that cannot reach its watch (Temporal away) is kept, then delivered by the
scheduler's reconciler through the same entry point; nothing is lost or taken twice."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import col, select
from temporalio.client import Client

from application.answers import AnswerIn, AnswerStatus, take_answer
from db.models import MerchantResponse, PendingAnswer, utcnow
from domain.vocabulary import Action, Channel
from scheduler.reconcile import reconcile
from tests.harness.http_server import free_port
from tests.harness.stack import LiveStack

NEVER = {"calls": [{"answer": "no-answer"}]}


async def test_an_answer_kept_while_temporal_is_away_is_delivered_later_once(
    stack: LiveStack,
) -> None:
    merchant_id, _ = await stack.merchant([NEVER])
    body = stack.refund_body(merchant_id, deadline_in=120)
    assert (await stack.intake(body)).status_code == 201
    refund_id = body["refund_id"]
    await stack.wait_view(refund_id, lambda v: v["stage"] == "in_app_sent")

    # The API's view of Temporal: a server nobody listens on.
    away = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    services_away = replace(stack.services, temporal=away)
    answer = AnswerIn(
        refund_id=refund_id,
        merchant_id=merchant_id,
        action=Action.HANDLE_NOW,
        channel=Channel.SMS,
        source_event_id=f"sms:SM-kept-{refund_id}",
        raw="1",
        at=utcnow(),
    )
    verdict = await take_answer(services_away, answer)
    assert verdict.status == AnswerStatus.PENDING
    assert (await take_answer(services_away, answer)).status == AnswerStatus.PENDING
    async with stack.services.sessions() as session:
        kept = (
            await session.exec(select(PendingAnswer).where(PendingAnswer.refund_id == refund_id))
        ).all()
    assert [(row.action, row.delivered_at) for row in kept] == [("handle_now", None)]

    result = await reconcile(stack.services, overdue_grace=timedelta(hours=1))
    assert result.answers_delivered >= 1
    view = await stack.wait_view(refund_id, lambda v: v["stage"] == "acknowledged")
    assert view["merchant_answer"] == "handle_now"
    await reconcile(stack.services, overdue_grace=timedelta(hours=1))
    async with stack.services.sessions() as session:
        delivered = await session.get(PendingAnswer, answer.source_event_id)
        responses = (
            await session.exec(
                select(MerchantResponse).where(col(MerchantResponse.refund_id) == refund_id)
            )
        ).all()
    assert delivered is not None and delivered.verdict == "taken"
    assert delivered.attempts == 1, "a delivered answer is not delivered again"
    assert [(r.channel, r.action) for r in responses] == [("sms", "handle_now")]
