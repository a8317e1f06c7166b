"""The in-app notice: written once per step, delivered the moment it is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from temporalio import activity

from activities.common import load_refund, logger_for, record_stage_change
from activities.types import NoticeInput
from db.attempts import append_status, claim_attempt
from db.audit import append_audit
from db.engine import SessionFactory
from db.models import InAppNotice, utcnow
from db.upsert import insert_ignore
from domain.vocabulary import Channel, DeliveryState, Purpose
from messages.facts import message_facts
from messages.texts import in_app_text

__all__ = ["NoticeActivities"]


class NoticeActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def all(self) -> list[Callable[..., Any]]:
        return [self.notify_in_app]

    @activity.defn(name="notify_in_app")
    async def notify_in_app(self, notice: NoticeInput) -> None:
        async with self._sessions() as session:
            refund, merchant = await load_refund(session, notice.refund_id)
            facts = await message_facts(
                session, refund, merchant, evidence=notice.purpose == Purpose.EVIDENCE
            )
            message = in_app_text(facts, notice.purpose)
            created = await insert_ignore(
                session,
                InAppNotice,
                {
                    "idempotency_key": notice.idempotency_key,
                    "refund_id": refund.refund_id,
                    "merchant_id": refund.merchant_id,
                    "message": message,
                    "created_at": utcnow(),
                },
                ["idempotency_key"],
            )
            if created:
                attempt = await claim_attempt(
                    session,
                    {
                        "idempotency_key": notice.idempotency_key,
                        "refund_id": refund.refund_id,
                        "merchant_id": refund.merchant_id,
                        "channel": Channel.IN_APP,
                        "step": notice.step,
                        "attempt": 1,
                    },
                )
                append_status(attempt, DeliveryState.DELIVERED)
                session.add(attempt)
                await append_audit(
                    session,
                    kind="notice.in_app",
                    actor="refundwatch",
                    refund_id=refund.refund_id,
                    merchant_id=refund.merchant_id,
                    detail={"step": notice.step, "purpose": notice.purpose},
                    dedup_key=f"{notice.idempotency_key}:audit",
                )
                await record_stage_change(session, refund, notice.stage)
            await session.commit()
        logger_for(notice.refund_id, notice.merchant_id, notice.workflow_id).info(
            "in_app_notice", step=notice.step, created=created
        )
