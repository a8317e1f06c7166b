"""The at-risk list: open tracked refunds, the nearest deadline first, then the largest amount."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Contact, NotificationAttempt, Refund, RiskAssessment
from domain.masking import mask_name, mask_phone
from domain.money import from_minor, to_minor

__all__ = ["AtRiskRefund", "LastAttempt", "at_stake", "contact_label", "load_at_risk"]


class LastAttempt(BaseModel):
    channel: str
    step: str
    status: str
    at: datetime
    to: str | None


class AtRiskRefund(BaseModel):
    refund_id: str
    merchant_id: str
    amount: str
    currency: str
    deadline_at: datetime
    seconds_left: int
    stage: str
    risk_score: int | None
    risk_level: str | None
    merchant_answer: str | None
    last_attempt: LastAttempt | None
    contact: str | None


def contact_label(contact: Contact | None) -> str | None:
    """'Z*** +86139****5678': enough to tell contacts apart, never the whole name or number."""
    if contact is None:
        return None
    return f"{mask_name(contact.name)} {mask_phone(contact.phone)}"


async def load_at_risk(
    session: AsyncSession,
    *,
    merchant_id: str | None = None,
    limit: int = 200,
    now: datetime | None = None,
) -> list[AtRiskRefund]:
    """Open tracked refunds ordered by time to deadline, then amount (largest first)."""
    now = now or datetime.now(UTC)
    statement = select(Refund).where(col(Refund.tracked).is_(True), Refund.state == "open")
    if merchant_id is not None:
        statement = statement.where(Refund.merchant_id == merchant_id)
    refunds = (
        await session.exec(
            statement.order_by(col(Refund.deadline_at), col(Refund.amount_minor).desc()).limit(
                limit
            )
        )
    ).all()
    if not refunds:
        return []
    ids = [refund.refund_id for refund in refunds]
    merchant_ids = {refund.merchant_id for refund in refunds}

    risks: dict[str, RiskAssessment] = {}
    for assessment in (
        await session.exec(
            select(RiskAssessment)
            .where(col(RiskAssessment.refund_id).in_(ids))
            .order_by(col(RiskAssessment.id))
        )
    ).all():
        risks.setdefault(assessment.refund_id, assessment)  # the intake's assessment

    last: dict[str, NotificationAttempt] = {}
    for row in (
        await session.exec(
            select(NotificationAttempt)
            .where(col(NotificationAttempt.refund_id).in_(ids))
            .order_by(col(NotificationAttempt.updated_at), col(NotificationAttempt.id))
        )
    ).all():
        last[row.refund_id] = row

    contacts: dict[int, Contact] = {}
    primary: dict[str, Contact] = {}
    for contact in (
        await session.exec(
            select(Contact)
            .where(col(Contact.merchant_id).in_(merchant_ids))
            .order_by(col(Contact.priority), col(Contact.id))
        )
    ).all():
        assert contact.id is not None
        contacts[contact.id] = contact
        if contact.active:
            primary.setdefault(contact.merchant_id, contact)

    rows: list[AtRiskRefund] = []
    for refund in refunds:
        risk = risks.get(refund.refund_id)
        attempt = last.get(refund.refund_id)
        rows.append(
            AtRiskRefund(
                refund_id=refund.refund_id,
                merchant_id=refund.merchant_id,
                amount=str(from_minor(refund.amount_minor, refund.currency)),
                currency=refund.currency,
                deadline_at=refund.deadline_at,
                seconds_left=int((refund.deadline_at - now).total_seconds()),
                stage=refund.stage,
                risk_score=risk.score if risk else None,
                risk_level=risk.level if risk else None,
                merchant_answer=refund.merchant_answer,
                last_attempt=_last_attempt(attempt, contacts),
                contact=contact_label(primary.get(refund.merchant_id)),
            )
        )
    return rows


def _last_attempt(
    attempt: NotificationAttempt | None, contacts: dict[int, Contact]
) -> LastAttempt | None:
    if attempt is None:
        return None
    contact = contacts.get(attempt.contact_id) if attempt.contact_id is not None else None
    return LastAttempt(
        channel=attempt.channel,
        step=attempt.step,
        status=attempt.status,
        at=attempt.updated_at,
        to=contact_label(contact),
    )


def at_stake(rows: list[AtRiskRefund]) -> dict[str, str]:
    """The money these refunds put at stake, per currency, as decimal strings."""
    totals: dict[str, int] = {}
    for row in rows:
        totals[row.currency] = totals.get(row.currency, 0) + to_minor(row.amount, row.currency)
    return {c: str(from_minor(minor, c)) for c, minor in sorted(totals.items())}
