"""Activities of the refund watch: in-app notices, SMS, calls, audit and outcomes.

Methods of one class that receives its clients; every outbound send claims its idempotency key
in the database before the provider is called, so a retried activity never sends twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import structlog
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.types import (
    AuditInput,
    DisputeInput,
    NoticeInput,
    OutcomeInput,
    RejectionInput,
    ResponseInput,
    SendInput,
    SendResult,
    SendStatus,
)
from db.attempts import append_status, attempt_by_key, claim_attempt, nth_contact
from db.audit import append_audit
from db.engine import SessionFactory
from db.facts import message_facts, refund_facts
from db.models import (
    Contact,
    InAppNotice,
    LossEntry,
    Merchant,
    NotificationAttempt,
    Refund,
    utcnow,
)
from db.responses import record_response
from db.risk import latest_assessment
from db.upsert import insert_ignore
from domain.money import format_money
from evidence import record_risk_gate_evidence
from notifier.base import (
    OPTED_OUT,
    AmbiguousProviderError,
    FinalProviderError,
    Notifier,
    ProviderReceipt,
    RetryableProviderError,
)
from notifier.texts import RefundFacts, evidence_sms_text, in_app_text, sms_text
from pacing import Pacer, send_priority

__all__ = ["LOSS_OUTCOMES", "ActivityConfig", "RefundActivities"]

# Outcomes written to the loss ledger: the refund was auto-approved without the merchant's say.
LOSS_OUTCOMES = frozenset({"timed_out", "evidence_missed"})

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ActivityConfig:
    public_base_url: str
    ring_timeout_s: int = 30
    machine_detection: bool = True
    sms_per_merchant_per_hour: int = 4


def _too_late(refund: Refund) -> bool:
    """The watch closed, or the deadline passed, while this send waited (a retry, a restart)."""
    return refund.closed_at is not None or utcnow() >= refund.deadline_at


class RefundActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        notifier: Notifier,
        config: ActivityConfig,
        pacer: Pacer | None = None,
    ):
        self._sessions = sessions
        self._notifier = notifier
        self._config = config
        self._pacer = pacer  # None = unpaced (unit tests)

    def all(self) -> list[object]:
        return [
            self.notify_in_app,
            self.send_sms,
            self.place_call,
            self.record_audit,
            self.record_outcome,
            self.record_in_app_response,
            self.record_dispute,
            self.record_rejection_evidence,
        ]

    # ------------------------------------------------------------------ in-app
    @activity.defn
    async def notify_in_app(self, notice: NoticeInput) -> None:
        async with self._sessions() as session:
            refund, merchant = await self._load(session, notice.refund_id)
            facts = await message_facts(
                session, refund, merchant, evidence=notice.purpose == "evidence"
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
                        "channel": "in_app",
                        "step": notice.step,
                        "attempt": 1,
                    },
                )
                append_status(attempt, "delivered")
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
            await session.commit()
        self._log(notice.refund_id, notice.merchant_id, notice.workflow_id).info(
            "in_app_notice", step=notice.step, created=created
        )

    # ------------------------------------------------------------------ SMS and calls
    @activity.defn
    async def send_sms(self, request: SendInput) -> SendResult:
        return await self._send(request, "sms")

    @activity.defn
    async def place_call(self, request: SendInput) -> SendResult:
        return await self._send(request, "call")

    async def _send(self, request: SendInput, channel: str) -> SendResult:
        key = request.idempotency_key
        logger = self._log(request.refund_id, request.merchant_id, request.workflow_id).bind(
            channel=channel, step=request.step, idempotency_key=key
        )
        # Wait for a slot of the shared rate limit BEFORE claiming the key, with no session
        # open: an attempt that times out while waiting must not leave a "maybe sent" claim.
        await self._wait_for_slot(request, channel)
        async with self._sessions() as session:
            refund, merchant = await self._load(session, request.refund_id)
            if _too_late(refund):
                # A retry or a restart reached past the deadline: a send now would help nobody.
                await self._release(key)
                pending = await attempt_by_key(session, key, for_update=True)
                if pending is not None and pending.status == "retryable":
                    append_status(pending, "closed")
                    pending.status = "closed"
                    session.add(pending)
                    await self._audit_attempt(session, pending, "send.closed")
                    await session.commit()
                logger.info("send_skipped_refund_closed", state=refund.state)
                return SendResult(SendStatus.CLOSED, key)
            contact = await nth_contact(session, refund.merchant_id, request.contact_index)
            if contact is None:
                await self._release(key)
                logger.info("send_skipped_no_contact", contact_index=request.contact_index)
                return SendResult(SendStatus.NO_CONTACT, key)
            existing = await attempt_by_key(session, key)
            if existing is not None and existing.status != "retryable":
                await self._release(key)
                result = self._resume(existing)
                if result.status == SendStatus.UNKNOWN and existing.status == "claimed":
                    append_status(existing, "unknown")
                    session.add(existing)
                    await self._audit_attempt(session, existing, "send.unknown")
                    await session.commit()
                logger.warning("send_not_repeated", status=existing.status)
                return result
            attempt = existing or await claim_attempt(
                session,
                {
                    "idempotency_key": key,
                    "refund_id": refund.refund_id,
                    "merchant_id": refund.merchant_id,
                    "contact_id": contact.id,
                    "channel": channel,
                    "step": request.step,
                    "attempt": request.attempt,
                },
            )
            if attempt.status == "retryable":
                append_status(attempt, f"claimed#{activity.info().attempt}")
                attempt.status = "claimed"
            if channel == "sms" and contact.sms_opted_out:
                append_status(attempt, "opted_out", error_code=OPTED_OUT)
                attempt.error_code = OPTED_OUT
                session.add(attempt)
                await self._audit_attempt(session, attempt, "send.opted_out")
                await session.commit()
                await self._release(key)
                return SendResult(SendStatus.OPTED_OUT, key, error_code=OPTED_OUT)
            if channel == "sms" and await self._sms_limit_reached(session, refund.merchant_id):
                # The merchant had its hourly share of SMS; those listed every open refund.
                append_status(attempt, "throttled")
                session.add(attempt)
                await self._audit_attempt(session, attempt, "send.throttled")
                await session.commit()
                await self._release(key)
                logger.info("send_throttled")
                return SendResult(SendStatus.THROTTLED, key)
            session.add(attempt)
            await session.commit()
            evidence = request.purpose == "evidence"
            facts = await message_facts(session, refund, merchant, evidence=evidence)
            listed = channel == "sms" and not evidence
            others = await self._other_open(session, refund, merchant) if listed else []
            phone = contact.phone
            contact_id = contact.id

        try:
            receipt = await self._deliver(channel, phone, facts, others, key)
        except FinalProviderError as err:
            status = "opted_out" if err.code == OPTED_OUT else "failed"
            await self._finish_attempt(key, status, err.code, err.message, contact_id=contact_id)
            logger.warning("send_failed", code=err.code, reason=err.message)
            result_status = SendStatus.OPTED_OUT if status == "opted_out" else SendStatus.FAILED
            return SendResult(result_status, key, error_code=err.code, error_message=err.message)
        except RetryableProviderError as err:
            await self._finish_attempt(key, "retryable", err.code, err.message)
            await self._release(key)  # nothing went out: the retry queues again
            logger.warning("send_retry", code=err.code, reason=err.message)
            raise ApplicationError(f"provider busy: {err.message}", type="ProviderRetry") from err
        except AmbiguousProviderError as err:
            # Leave the claim: the next try finds it and will not send again.
            logger.error("send_ambiguous", reason=err.message)
            raise ApplicationError(f"provider ambiguous: {err.message}") from err

        async with self._sessions() as session:
            accepted = await attempt_by_key(session, key, for_update=True)
            assert accepted is not None
            accepted.provider_sid = receipt.sid
            append_status(accepted, "accepted", sid=receipt.sid)
            session.add(accepted)
            await self._audit_attempt(session, accepted, f"send.{channel}")
            await session.commit()
        logger.info("sent", sid=receipt.sid)
        return SendResult(SendStatus.ACCEPTED, key, provider_sid=receipt.sid)

    async def _wait_for_slot(self, request: SendInput, channel: str) -> None:
        """Queue for the channel's shared rate; the most valuable waiting send goes first."""
        if self._pacer is None:
            return
        async with self._sessions() as session:
            priority = await self._slot_priority(session, request, channel)
        if priority is not None:
            await self._pacer.acquire(
                key=request.idempotency_key,
                channel=channel,
                priority=priority,
                heartbeat=activity.heartbeat,
            )

    async def _slot_priority(
        self, session: AsyncSession, request: SendInput, channel: str
    ) -> float | None:
        """The send's priority, or None when it will not reach the provider anyway."""
        refund = await session.get(Refund, request.refund_id)
        if refund is None or _too_late(refund):
            return None
        contact = await nth_contact(session, refund.merchant_id, request.contact_index)
        existing = await attempt_by_key(session, request.idempotency_key)
        if contact is None or (existing is not None and existing.status != "retryable"):
            return None
        if channel == "sms" and (
            contact.sms_opted_out or await self._sms_limit_reached(session, refund.merchant_id)
        ):
            return None
        return await send_priority(session, refund.refund_id)

    async def _release(self, key: str) -> None:
        if self._pacer is not None:
            await self._pacer.release_unused(key)

    async def _sms_limit_reached(self, session: AsyncSession, merchant_id: str) -> bool:
        since = utcnow() - timedelta(hours=1)
        statement = select(func.count()).where(
            NotificationAttempt.merchant_id == merchant_id,
            NotificationAttempt.channel == "sms",
            col(NotificationAttempt.provider_sid).is_not(None),
            col(NotificationAttempt.created_at) >= since,
        )
        sent = (await session.exec(statement)).one()
        return int(sent) >= self._config.sms_per_merchant_per_hour

    async def _other_open(
        self, session: AsyncSession, refund: Refund, merchant: Merchant
    ) -> list[RefundFacts]:
        statement = (
            select(Refund)
            .where(
                Refund.merchant_id == refund.merchant_id,
                Refund.state == "open",
                Refund.refund_id != refund.refund_id,
            )
            .order_by(col(Refund.deadline_at))
        )
        return [refund_facts(other, merchant) for other in (await session.exec(statement)).all()]

    async def _deliver(
        self,
        channel: str,
        phone: str,
        facts: RefundFacts,
        others: list[RefundFacts],
        key: str,
    ) -> ProviderReceipt:
        base = self._config.public_base_url
        q = f"key={quote(key, safe='')}"
        if channel == "sms":
            body = evidence_sms_text(facts) if facts.evidence_left is not None else None
            return await self._notifier.send_sms(
                to=phone,
                body=body or sms_text(facts, others),
                status_callback=f"{base}/twilio/status/sms?{q}",
            )
        return await self._notifier.place_call(
            to=phone,
            voice_url=f"{base}/twilio/voice?{q}",
            status_callback=f"{base}/twilio/status/call?{q}",
            machine_detection=self._config.machine_detection,
            ring_timeout_s=self._config.ring_timeout_s,
        )

    @staticmethod
    def _resume(existing: NotificationAttempt) -> SendResult:
        key = existing.idempotency_key
        if existing.provider_sid:
            return SendResult(SendStatus.ACCEPTED, key, provider_sid=existing.provider_sid)
        if existing.status == "failed":
            return SendResult(
                SendStatus.FAILED,
                key,
                error_code=existing.error_code,
                error_message=existing.error_message,
            )
        if existing.status == "throttled":
            return SendResult(SendStatus.THROTTLED, key)
        if existing.status == "opted_out":
            return SendResult(SendStatus.OPTED_OUT, key, error_code=existing.error_code)
        return SendResult(SendStatus.UNKNOWN, key)

    async def _finish_attempt(
        self,
        key: str,
        status: str,
        code: int | None,
        message: str,
        *,
        contact_id: int | None = None,
    ) -> None:
        async with self._sessions() as session:
            attempt = await attempt_by_key(session, key, for_update=True)
            assert attempt is not None
            attempt.error_code = code
            attempt.error_message = message[:500]
            append_status(attempt, status if status != "retryable" else f"retryable#{code}")
            attempt.status = status
            session.add(attempt)
            if status == "opted_out" and contact_id is not None:
                contact = await session.get(Contact, contact_id)
                if contact is not None:
                    contact.sms_opted_out = True
                    session.add(contact)
            if status != "retryable":
                await self._audit_attempt(session, attempt, f"send.{status}")
            await session.commit()

    # ------------------------------------------------------------------ bookkeeping
    @activity.defn
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
                if refund is not None and refund.state == "open":
                    refund.stage = event.stage
                    session.add(refund)
            await session.commit()

    @activity.defn
    async def record_in_app_response(self, response: ResponseInput) -> None:
        async with self._sessions() as session:
            refund = await session.get(Refund, response.refund_id)
            if refund is None:
                raise ApplicationError(f"refund {response.refund_id} not found", non_retryable=True)
            await record_response(
                session,
                refund=refund,
                channel="in_app",
                action=response.action,
                raw=response.action,
                source_event_id=response.source_event_id,
            )
            await session.commit()

    @activity.defn
    async def record_outcome(self, outcome: OutcomeInput) -> None:
        async with self._sessions() as session:
            refund = await session.get(Refund, outcome.refund_id)
            if refund is None:
                raise ApplicationError(f"refund {outcome.refund_id} not found", non_retryable=True)
            if refund.state == "open":
                refund.state = outcome.outcome
                refund.stage = "closed"
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
        self._log(outcome.refund_id, outcome.merchant_id, outcome.workflow_id).info(
            "refund_closed", outcome=outcome.outcome, resolution=outcome.resolution
        )

    # ------------------------------------------------------------------ disputes
    @activity.defn
    async def record_dispute(self, dispute: DisputeInput) -> None:
        async with self._sessions() as session:
            refund = await session.get(Refund, dispute.refund_id)
            if refund is None:
                raise ApplicationError(f"refund {dispute.refund_id} not found", non_retryable=True)
            if refund.state == "open":
                # Stage and due time together: the evidence API reads both to accept uploads.
                refund.stage = "rejected" if dispute.action == "reject" else "disputed"
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
        self._log(dispute.refund_id, dispute.merchant_id, dispute.workflow_id).info(
            "dispute_opened", action=dispute.action, evidence_due=dispute.evidence_due.isoformat()
        )

    @activity.defn
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

    # ------------------------------------------------------------------ helpers
    async def _load(self, session: AsyncSession, refund_id: str) -> tuple[Refund, Merchant]:
        refund = await session.get(Refund, refund_id)
        merchant = await session.get(Merchant, refund.merchant_id) if refund else None
        if refund is None or merchant is None:
            raise ApplicationError(
                f"refund {refund_id} or its merchant is missing", non_retryable=True
            )
        return refund, merchant

    async def _audit_attempt(
        self, session: AsyncSession, attempt: NotificationAttempt, kind: str
    ) -> None:
        await append_audit(
            session,
            kind=kind,
            actor="refundwatch",
            refund_id=attempt.refund_id,
            merchant_id=attempt.merchant_id,
            detail={
                "channel": attempt.channel,
                "step": attempt.step,
                "attempt": attempt.attempt,
                "idempotency_key": attempt.idempotency_key,
                "sid": attempt.provider_sid,
                "error_code": attempt.error_code,
            },
            dedup_key=f"{attempt.idempotency_key}:{kind}",
        )

    @staticmethod
    def _log(refund_id: str, merchant_id: str, workflow_id: str) -> Any:
        return log.bind(refund_id=refund_id, merchant_id=merchant_id, workflow_id=workflow_id)
