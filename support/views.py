"""What support staff see of a refund. Personal data is masked here, once, for every view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import (
    AuditEvent,
    Contact,
    LossEntry,
    MerchantResponse,
    NotificationAttempt,
    Refund,
    RiskAssessment,
)
from domain.masking import mask_name, mask_phone
from domain.money import from_minor
from evidence.views import EvidenceView, load_evidence

__all__ = ["AttemptView", "RefundView", "TimelineEntry", "load_refund_view", "load_timeline"]


class AttemptView(BaseModel):
    channel: str
    step: str
    attempt: int
    to: str | None
    status: str
    provider_sid: str | None
    error_code: int | None
    answered_by: str | None
    duration_seconds: int | None
    price: str | None  # what the provider billed (its own record, settled later)
    price_unit: str | None = None
    # SMS: how it was encoded and into how many billed segments (domain/sms_length.py).
    encoding: str | None = None
    segments: int | None = None
    status_history: list[dict[str, Any]]
    created_at: datetime


class ResponseView(BaseModel):
    channel: str
    action: str
    raw: str
    received_at: datetime


class RefundView(BaseModel):
    refund_id: str
    merchant_id: str
    order_id: str
    amount: str
    currency: str
    requested_at: datetime
    deadline_at: datetime
    tracked: bool
    state: str
    stage: str
    workflow_id: str | None
    risk: dict[str, Any]
    merchant_answer: str | None
    resolution: str | None
    loss: str | None
    attempts: list[AttemptView]
    responses: list[ResponseView]
    # Disputes: evidence is due by then; every submission, with support download URLs.
    evidence_due_at: datetime | None = None
    evidence: list[EvidenceView] = []


class TimelineEntry(BaseModel):
    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


def _contact_label(contact: Contact | None) -> str | None:
    if contact is None:
        return None
    return f"{mask_name(contact.name)} {mask_phone(contact.phone)}"


async def load_refund_view(session: AsyncSession, refund_id: str) -> RefundView | None:
    refund = await session.get(Refund, refund_id)
    if refund is None:
        return None
    risk = (
        await session.exec(
            select(RiskAssessment)
            .where(RiskAssessment.refund_id == refund_id)
            .order_by(col(RiskAssessment.id))
        )
    ).first()
    attempts = (
        await session.exec(
            select(NotificationAttempt)
            .where(NotificationAttempt.refund_id == refund_id)
            .order_by(col(NotificationAttempt.created_at), col(NotificationAttempt.id))
        )
    ).all()
    contacts = {
        c.id: c
        for c in (
            await session.exec(select(Contact).where(Contact.merchant_id == refund.merchant_id))
        ).all()
    }
    responses = (
        await session.exec(
            select(MerchantResponse)
            .where(MerchantResponse.refund_id == refund_id)
            .order_by(col(MerchantResponse.received_at))
        )
    ).all()
    loss = await session.exec(select(LossEntry).where(LossEntry.refund_id == refund_id))
    loss_row = loss.first()
    evidence = await load_evidence(session, refund_id, with_downloads=True)
    return RefundView(
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        order_id=refund.order_id,
        amount=str(from_minor(refund.amount_minor, refund.currency)),
        currency=refund.currency,
        requested_at=refund.requested_at,
        deadline_at=refund.deadline_at,
        tracked=refund.tracked,
        state=refund.state,
        stage=refund.stage,
        workflow_id=refund.workflow_id,
        risk={
            "score": risk.score if risk else None,
            "level": risk.level if risk else None,
            "reasons": risk.reasons if risk else [],
        },
        merchant_answer=refund.merchant_answer,
        resolution=refund.resolution,
        loss=str(from_minor(loss_row.amount_minor, loss_row.currency)) if loss_row else None,
        attempts=[
            AttemptView(
                channel=a.channel,
                step=a.step,
                attempt=a.attempt,
                to=_contact_label(contacts.get(a.contact_id)) if a.contact_id else None,
                status=a.status,
                provider_sid=a.provider_sid,
                error_code=a.error_code,
                answered_by=a.answered_by,
                duration_seconds=a.duration_seconds,
                price=str(a.price) if a.price is not None else None,
                price_unit=a.price_unit,
                encoding=a.encoding,
                segments=a.segments,
                status_history=a.status_history,
                created_at=a.created_at,
            )
            for a in attempts
        ],
        responses=[
            ResponseView(channel=r.channel, action=r.action, raw=r.raw, received_at=r.received_at)
            for r in responses
        ],
        evidence_due_at=refund.evidence_due_at,
        evidence=evidence,
    )


async def load_timeline(session: AsyncSession, refund_id: str) -> list[TimelineEntry] | None:
    """Audit events plus every provider status, in time order."""
    if await session.get(Refund, refund_id) is None:
        return None
    entries = [
        TimelineEntry(at=e.at, kind=e.kind, actor=e.actor, detail=e.detail)
        for e in (
            await session.exec(select(AuditEvent).where(AuditEvent.refund_id == refund_id))
        ).all()
    ]
    attempts = (
        await session.exec(
            select(NotificationAttempt).where(NotificationAttempt.refund_id == refund_id)
        )
    ).all()
    for attempt in attempts:
        for item in attempt.status_history:
            if item.get("source") != "provider":
                continue
            entries.append(
                TimelineEntry(
                    at=datetime.fromisoformat(item["at"]),
                    kind=f"{attempt.channel}.{item['status']}",
                    actor="twilio",
                    detail={
                        "step": attempt.step,
                        "attempt": attempt.attempt,
                        "sid": attempt.provider_sid,
                        **{k: v for k, v in item.items() if k not in {"status", "at", "source"}},
                    },
                )
            )
    entries.sort(key=lambda entry: entry.at)
    return entries
