"""The JSON body of each event, built once from the database (docs/webhooks.md, Payloads).

Stable schema: fields are only ever added. Amounts are decimal strings in major units, times
ISO-8601 in UTC. No phone numbers or contact names: the platform has its own merchant records.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import EvidenceFile, EvidenceSubmission, MerchantResponse, Refund, RiskAssessment
from domain.money import from_minor
from domain.vocabulary import Action
from platform_webhooks.notice_payloads import NoticeSubjectMissingError, notice_data
from platform_webhooks.types import (
    DISPUTED,
    EVENT_TYPES,
    EVIDENCE_MISSED,
    EVIDENCE_SUBMITTED,
    MERCHANT_HANDLING,
    NEEDS_EVIDENCE,
    NEEDS_SUBJECT,
    REJECTED,
    OutboundEventInput,
)

__all__ = ["PayloadError", "build_payload", "encode_body"]


class PayloadError(ValueError):
    """The event cannot be built: unknown type, or the rows it describes are missing."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed); the same for every attempt of one event."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


async def build_payload(
    session: AsyncSession, event: OutboundEventInput, created_at: datetime
) -> dict[str, Any]:
    if event.type not in EVENT_TYPES:
        raise PayloadError(f"unknown event type {event.type!r}")
    refund = await session.get(Refund, event.refund_id)
    if refund is None:
        raise PayloadError(f"refund {event.refund_id} not found")
    if refund.merchant_id != event.merchant_id:
        raise PayloadError(f"refund {event.refund_id} belongs to another merchant")
    if event.type in NEEDS_EVIDENCE and event.evidence_id is None:
        raise PayloadError(f"{event.type} needs an evidence id")
    if event.type in NEEDS_SUBJECT and not event.subject:
        raise PayloadError(f"{event.type} needs a subject")
    return {
        "id": event.event_id,
        "type": event.type,
        "created_at": created_at.isoformat(),
        "refund": {
            "refund_id": refund.refund_id,
            "order_id": refund.order_id,
            "merchant_id": refund.merchant_id,
            "amount": str(from_minor(refund.amount_minor, refund.currency)),
            "currency": refund.currency,
        },
        "data": await _data(session, event, refund),
    }


async def _data(session: AsyncSession, event: OutboundEventInput, refund: Refund) -> dict[str, Any]:
    if event.type in NEEDS_SUBJECT:
        try:
            return await notice_data(session, event.type, event.subject, refund)
        except NoticeSubjectMissingError as err:
            raise PayloadError(str(err)) from None
    if event.type == MERCHANT_HANDLING:
        return await _answer(session, refund.refund_id, Action.HANDLE_NOW)
    if event.type == DISPUTED:
        answer = await _answer(session, refund.refund_id, Action.DISPUTE)
        return {"evidence_due_at": _iso(refund.evidence_due_at), **answer}
    if event.type == EVIDENCE_MISSED:
        return {"evidence_due_at": _iso(refund.evidence_due_at)}
    assert event.evidence_id is not None
    evidence = await _evidence(session, refund.refund_id, event.evidence_id)
    if event.type == EVIDENCE_SUBMITTED:
        return {"evidence": evidence}
    assert event.type == REJECTED
    answer = await _answer(session, refund.refund_id, Action.REJECT)
    risk = await _risk(session, refund)
    return {"reason": "abnormal", **answer, "evidence": evidence, "risk": risk}


async def _answer(session: AsyncSession, refund_id: str, action: str) -> dict[str, Any]:
    """How and when the merchant said it (keypad on a call, SMS reply, in-app button)."""
    statement = (
        select(MerchantResponse)
        .where(MerchantResponse.refund_id == refund_id, MerchantResponse.action == action)
        .order_by(col(MerchantResponse.received_at))
        .limit(1)
    )
    response = (await session.exec(statement)).first()
    return {
        "answer": action,
        "channel": response.channel if response else None,
        "answered_at": _iso(response.received_at) if response else None,
    }


async def _evidence(session: AsyncSession, refund_id: str, evidence_id: int) -> dict[str, Any]:
    submission = await session.get(EvidenceSubmission, evidence_id)
    if submission is None or submission.refund_id != refund_id:
        raise PayloadError(f"evidence {evidence_id} of refund {refund_id} not found")
    files = (
        await session.exec(
            select(EvidenceFile)
            .where(EvidenceFile.evidence_id == evidence_id)
            .order_by(col(EvidenceFile.id))
        )
    ).all()
    return {
        "id": submission.id,
        "category": submission.category,
        "note": submission.note,
        "source": submission.source,
        "submitted_at": _iso(submission.submitted_at),
        "details": submission.details,
        "files": [
            {"name": f.filename, "type": f.content_type, "size": f.size_bytes, "sha256": f.sha256}
            for f in files
        ],
    }


async def _risk(session: AsyncSession, refund: Refund) -> dict[str, Any]:
    statement = (
        select(RiskAssessment)
        .where(RiskAssessment.refund_id == refund.refund_id)
        .order_by(col(RiskAssessment.id).desc())
        .limit(1)
    )
    risk = (await session.exec(statement)).first()
    if risk is None:
        return {"score": None, "level": None, "reasons": []}
    # The reasons that scored: the ones that made the refund look abnormal.
    reasons = [
        {"code": r.get("code"), "points": r.get("points"), "text": r.get("text")}
        for r in risk.reasons
        if isinstance(r, dict) and r.get("points")
    ]
    return {"score": risk.score, "level": risk.level, "reasons": reasons}
