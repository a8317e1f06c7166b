"""The watch's bookkeeping: audit entries, stage and outcome, answers, disputes, rejections.

Each write is idempotent by its own key (a dedup key, a provider or client event id), so the
workflow runs these as local activities and a retry writes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common import logger_for
from activities.types import (
    AnswerRecord,
    AuditInput,
    DisputeInput,
    OutcomeInput,
    RejectionInput,
    ResponseInput,
    StoredResolution,
)
from db.audit import append_audit
from db.engine import SessionFactory
from db.models import LossEntry, Refund, utcnow
from db.platform_events import decided_at, first_resolution
from db.responses import record_response
from db.upsert import insert_ignore
from domain.money import format_money
from domain.vocabulary import LOSS_OUTCOMES, Action, Channel, RefundState, Stage
from evidence import record_risk_gate_evidence
from risk.assessments import latest_assessment

__all__ = ["RecordActivities"]


async def _refund(session: AsyncSession, refund_id: str) -> Refund:
    refund = await session.get(Refund, refund_id)
    if refund is None:
        raise ApplicationError(f"refund {refund_id} not found", non_retryable=True)
    return refund


class RecordActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.record_audit,
            self.record_outcome,
            self.record_answer,
            self.record_in_app_response,
            self.record_dispute,
            self.record_rejection_evidence,
            self.read_stored_resolution,
        ]

    @activity.defn(name="record_audit")
    async def record_audit(self, event: AuditInput) -> None:
        async with self._sessions() as session:
            await append_audit(
                session,
                kind=event.kind,
                actor="workflow",
                refund_id=event.refund_id,
                merchant_id=event.merchant_id,
                detail=event.detail,
                dedup_key=event.dedup_key,
            )
            if event.stage is not None:
                refund = await session.get(Refund, event.refund_id)
                if refund is not None and refund.state == RefundState.OPEN:
                    refund.stage = event.stage
                    session.add(refund)
            await session.commit()

    @activity.defn(name="read_stored_resolution")
    async def read_stored_resolution(self, refund_id: str) -> StoredResolution | None:
        """The platform's resolution if the API stored one: read when the deadline fires, for
        a decision stored before it whose signal had not reached the watch yet."""
        async with self._sessions() as session:
            event = await first_resolution(session, refund_id)
        if event is None:
            return None
        return StoredResolution(
            str(event.payload["resolution"]),
            event.event_id,
            decided_at(event.payload, event.received_at),
        )

    @activity.defn(name="record_answer")
    async def record_answer(self, answer: AnswerRecord) -> None:
        """An answer the watch accepted, from any channel."""
        async with self._sessions() as session:
            refund = await _refund(session, answer.refund_id)
            await record_response(
                session,
                refund=refund,
                channel=answer.channel,
                action=answer.action,
                raw=answer.raw,
                source_event_id=answer.source_event_id,
            )
            await session.commit()

    @activity.defn(name="record_in_app_response")
    async def record_in_app_response(self, response: ResponseInput) -> None:
        """The legacy in-app answer (histories recorded before ``record_answer``)."""
        await self.record_answer(
            AnswerRecord(
                response.refund_id,
                response.action,
                Channel.IN_APP,
                response.source_event_id,
                raw=response.action,
            )
        )

    @activity.defn(name="record_outcome")
    async def record_outcome(self, outcome: OutcomeInput) -> None:
        async with self._sessions() as session:
            refund = await _refund(session, outcome.refund_id)
            if refund.state == RefundState.OPEN:
                refund.state = outcome.outcome
                refund.stage = Stage.CLOSED
                refund.resolution = outcome.resolution
                refund.closed_at = utcnow()
                session.add(refund)
            if outcome.outcome in LOSS_OUTCOMES:
                await insert_ignore(
                    session,
                    LossEntry,
                    {
                        "refund_id": refund.refund_id,
                        "merchant_id": refund.merchant_id,
                        "amount_minor": refund.amount_minor,
                        "currency": refund.currency,
                        "reason": outcome.outcome,
                        "last_channel": outcome.last_channel,
                        "recorded_at": utcnow(),
                    },
                    ["refund_id"],
                )
            await append_audit(
                session,
                kind=f"refund.{outcome.outcome}",
                actor="workflow",
                refund_id=refund.refund_id,
                merchant_id=refund.merchant_id,
                detail={
                    "resolution": outcome.resolution,
                    "answer": outcome.answer,
                    "last_channel": outcome.last_channel,
                    "amount": format_money(refund.amount_minor, refund.currency),
                },
                dedup_key=f"{outcome.workflow_id}:outcome",
            )
            await session.commit()
        logger_for(outcome.refund_id, outcome.merchant_id, outcome.workflow_id).info(
            "refund_closed", outcome=outcome.outcome, resolution=outcome.resolution
        )

    @activity.defn(name="record_dispute")
    async def record_dispute(self, dispute: DisputeInput) -> None:
        async with self._sessions() as session:
            refund = await _refund(session, dispute.refund_id)
            if refund.state == RefundState.OPEN:
                # Stage and due time together, for support and the merchant's views.
                rejected = dispute.action == Action.REJECT
                refund.stage = Stage.REJECTED if rejected else Stage.DISPUTED
                refund.evidence_due_at = dispute.evidence_due
                session.add(refund)
            await append_audit(
                session,
                kind=f"dispute.{dispute.action}",
                actor="workflow",
                refund_id=refund.refund_id,
                merchant_id=refund.merchant_id,
                detail={
                    "channel": dispute.channel,
                    "evidence_due": dispute.evidence_due.isoformat(),
                },
                dedup_key=f"{dispute.workflow_id}:dispute",
            )
            await session.commit()
        logger_for(dispute.refund_id, dispute.merchant_id, dispute.workflow_id).info(
            "dispute_opened", action=dispute.action, evidence_due=dispute.evidence_due.isoformat()
        )

    @activity.defn(name="record_rejection_evidence")
    async def record_rejection_evidence(self, rejection: RejectionInput) -> int:
        """The risk gate's reasons become the rejection's evidence. Returns the evidence id."""
        async with self._sessions() as session:
            risk = await latest_assessment(session, rejection.refund_id)
            reasons = list(risk.reasons) if risk is not None else []
            evidence = await record_risk_gate_evidence(
                session,
                refund_id=rejection.refund_id,
                merchant_id=rejection.merchant_id,
                request_id=rejection.request_id,
                reasons=reasons,
            )
            await session.commit()
            assert evidence.id is not None
            return evidence.id
