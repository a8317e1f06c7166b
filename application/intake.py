"""Refund intake: validate, compare with an earlier intake, score, store, start the watch.

Crash safety: the refund row, its risk assessment and audit entry are written in one
transaction before the workflow is started; a repeated intake (the platform retries on any
error) starts a workflow that is still missing. The reconciler covers a platform that never
retries.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from statistics import median
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from application.schemas import RefundIn, RefundIntakeOut, RiskOut, RiskReasonOut
from application.services import Services
from application.watches import ensure_watch_started, first_assessment
from db.audit import append_audit
from db.models import Merchant, Refund, RiskAssessment, utcnow
from domain.money import from_minor
from risk import RiskInput, assess
from risk.outcome_store import history_for_intake
from risk.results import RiskAssessmentResult
from workflows.ids import workflow_id_for

__all__ = [
    "RECENT_AMOUNTS",
    "IntakeConflict",
    "IntakeResult",
    "UnknownMerchant",
    "add_rows",
    "differences",
    "intake_body",
    "log_received",
    "new_rows",
    "payload_digest",
    "pick_reply_code",
    "score",
    "take_refund",
    "typical_of",
]

log = structlog.get_logger(__name__)
RECENT_AMOUNTS = 50
REPLY_CODES = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I or O: they read like 1 and 0 in an SMS


class IntakeConflict(Exception):
    def __init__(self, fields: list[str]):
        super().__init__(", ".join(fields))
        self.fields = fields


class UnknownMerchant(Exception):
    pass


@dataclass(frozen=True)
class IntakeResult:
    body: RefundIntakeOut
    created: bool


def payload_digest(canonical: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    fields: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key == "signals" and isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            fields += [f"signals.{name}" for name in differences(old[key], new[key])]
        elif old.get(key) != new.get(key):
            fields.append(key)
    return fields


async def _typical_amount(session: AsyncSession, merchant_id: str, currency: str) -> Decimal | None:
    statement = (
        select(Refund.amount_minor)
        .where(Refund.merchant_id == merchant_id, Refund.currency == currency)
        .order_by(col(Refund.created_at).desc())
        .limit(RECENT_AMOUNTS)
    )
    return typical_of(list((await session.exec(statement)).all()), currency)


def typical_of(amounts: list[int], currency: str) -> Decimal | None:
    """The merchant's typical amount: the median of its last 50 (minor units, newest first)."""
    recent = amounts[:RECENT_AMOUNTS]
    return from_minor(int(median(recent)), currency) if recent else None


async def _free_reply_code(session: AsyncSession, merchant_id: str) -> str:
    statement = select(Refund.reply_code).where(
        Refund.merchant_id == merchant_id, Refund.state == "open"
    )
    return pick_reply_code({code for code in (await session.exec(statement)).all() if code})


def pick_reply_code(used: set[str]) -> str:
    """The first letter not used by this merchant's open refunds: SMS replies say "1A", "2B"."""
    for code in REPLY_CODES:
        if code not in used:
            return code
    return REPLY_CODES[-1]  # 26+ open refunds: later ones share Z and are answered in the app


async def _body(
    session: AsyncSession, refund: Refund, risk: RiskAssessment | None = None
) -> RefundIntakeOut:
    return intake_body(refund, risk or await first_assessment(session, refund.refund_id))


def intake_body(refund: Refund, risk: RiskAssessment) -> RefundIntakeOut:
    """What intake answers for a stored refund (its first assessment)."""
    return RefundIntakeOut(
        refund_id=refund.refund_id,
        tracked=refund.tracked,
        risk=RiskOut(
            score=risk.score,
            level=risk.level,
            reasons=[RiskReasonOut(**reason) for reason in risk.reasons],
        ),
        workflow_id=refund.workflow_id,
    )


async def take_refund(services: Services, request: RefundIn) -> IntakeResult:
    canonical = request.canonical()
    digest = payload_digest(canonical)
    async with services.sessions() as session:
        existing = await session.get(Refund, request.refund_id)
        if existing is None:
            created = await _create(services, session, request, canonical, digest)
            if created is not None:
                refund, risk, merchant = created
                await ensure_watch_started(services, session, refund, risk=risk, merchant=merchant)
                return IntakeResult(await _body(session, refund, risk), created=True)
            existing = await session.get(Refund, request.refund_id)
            assert existing is not None
        if existing.payload_hash != digest:
            raise IntakeConflict(differences(existing.intake, canonical))
        await ensure_watch_started(services, session, existing)
        return IntakeResult(await _body(session, existing), created=False)


async def _create(
    services: Services,
    session: AsyncSession,
    request: RefundIn,
    canonical: dict[str, Any],
    digest: str,
) -> tuple[Refund, RiskAssessment, Merchant] | None:
    """Store refund + assessment + audit in one transaction; None if another request won."""
    # Locked (PostgreSQL) so concurrent intakes for one merchant pick different reply codes.
    locked = select(Merchant).where(Merchant.merchant_id == request.merchant_id).with_for_update()
    merchant = (await session.exec(locked)).first()
    if merchant is None:
        raise UnknownMerchant(request.merchant_id)
    typical = await _typical_amount(session, request.merchant_id, request.currency)
    result = await score(services, session, request, typical)
    reply_code = await _free_reply_code(session, request.merchant_id) if result.tracked else None
    refund, assessment = new_rows(request, canonical, digest, result, reply_code)
    await add_rows(session, refund, assessment)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    log_received(refund, assessment)
    return refund, assessment, merchant


async def score(
    services: Services, session: AsyncSession, request: RefundIn, typical: Decimal | None
) -> RiskAssessmentResult:
    """The risk gate's verdict on one refund (``typical``: the merchant's median amount)."""
    return assess(
        RiskInput(
            amount=request.amount,
            currency=request.currency,
            signals=request.signals,
            merchant_typical_amount=typical,
            history=await history_for_intake(session, request.signals, services.risk_rules),
        ),
        services.risk_rules,
    )


def new_rows(
    request: RefundIn,
    canonical: dict[str, Any],
    digest: str,
    result: RiskAssessmentResult,
    reply_code: str | None,
) -> tuple[Refund, RiskAssessment]:
    """The refund and its first assessment, as one intake stores them (single or batch)."""
    now = utcnow()
    refund = Refund(
        refund_id=request.refund_id,
        merchant_id=request.merchant_id,
        order_id=request.order_id,
        amount_minor=request.amount_minor,
        currency=request.currency,
        reason=request.reason,
        requested_at=request.requested_at,
        deadline_at=request.deadline_at,
        signals=request.signals.model_dump(mode="json"),
        payload_hash=digest,
        intake=canonical,
        tracked=result.tracked,
        reply_code=reply_code,
        workflow_id=workflow_id_for(request.refund_id) if result.tracked else None,
        state="open" if result.tracked else "untracked",
        stage="received" if result.tracked else "not_tracked",
        created_at=now,
    )
    reasons = [{"code": r.code, "points": r.points, "text": r.text} for r in result.reasons]
    assessment = RiskAssessment(
        refund_id=request.refund_id,
        score=result.score,
        level=result.level.value,
        tracked=result.tracked,
        reasons=reasons,
        rules_version=result.rules_version,
        created_at=now,
    )
    return refund, assessment


async def add_rows(session: AsyncSession, refund: Refund, assessment: RiskAssessment) -> None:
    """Add the rows and their two audit entries to the session (the caller commits)."""
    session.add(refund)
    session.add(assessment)
    await append_audit(
        session,
        kind="refund.received",
        actor="platform",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        detail={
            "order_id": refund.order_id,
            "amount": f"{refund.currency} {from_minor(refund.amount_minor, refund.currency)}",
        },
    )
    await append_audit(
        session,
        kind="risk.assessed",
        actor="refundwatch",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        detail={
            "score": assessment.score,
            "level": assessment.level,
            "tracked": assessment.tracked,
            "reasons": [r["text"] for r in assessment.reasons],
            "rules_version": assessment.rules_version,
        },
    )


def log_received(refund: Refund, assessment: RiskAssessment) -> None:
    log.info(
        "refund_received",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        tracked=refund.tracked,
        score=assessment.score,
    )
