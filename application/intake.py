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
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from application.schemas import RefundIn, RefundIntakeOut, RiskOut, RiskReasonOut
from application.services import Services
from application.watches import ensure_watch_started, first_assessment, start_new_watch
from db.audit import audit_values
from db.intake_rows import INTAKE_AUDITS, RECENT_AMOUNTS, insert_rows, read_intake_context
from db.models import AuditEvent, Merchant, Refund, RiskAssessment, utcnow
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
    "intake_audits",
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
RECEIVED, ASSESSED = INTAKE_AUDITS
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


def typical_of(amounts: list[int], currency: str) -> Decimal | None:
    """The merchant's typical amount: the median of its last 50 (minor units, newest first)."""
    recent = amounts[:RECENT_AMOUNTS]
    return from_minor(int(median(recent)), currency) if recent else None


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
    # One connection for the intake: one pool checkout (and pre-ping) instead of two.
    async with services.engine.connect() as conn:
        created = await _create(services, conn, request, canonical, digest)
        if created is not None:
            refund, risk, merchant = created
            if refund.tracked:
                await start_new_watch(services, conn, refund, risk, merchant)
            return IntakeResult(intake_body(refund, risk), created=True)
    return await _received_before(services, request, canonical, digest)


async def _received_before(
    services: Services, request: RefundIn, canonical: dict[str, Any], digest: str
) -> IntakeResult:
    """The same refund id again: the same answer (starting a watch still missing), or 409."""
    async with services.sessions() as session:
        existing = await session.get(Refund, request.refund_id)
        assert existing is not None
        if existing.payload_hash != digest:
            raise IntakeConflict(differences(existing.intake, canonical))
        await ensure_watch_started(services, session, existing)
        return IntakeResult(await _body(session, existing), created=False)


async def _create(
    services: Services,
    conn: AsyncConnection,
    request: RefundIn,
    canonical: dict[str, Any],
    digest: str,
) -> tuple[Refund, RiskAssessment, Merchant] | None:
    """Store refund + assessment + audit in one transaction of Core statements
    (db.intake_rows: one read, one insert); None if stored before or another request won."""
    try:
        async with conn.begin():
            context = await read_intake_context(
                conn, request.refund_id, request.merchant_id, request.currency
            )
            if context.stored_before:
                return None
            if context.merchant is None:
                raise UnknownMerchant(request.merchant_id)
            typical = typical_of(context.recent_amounts, request.currency)
            result = await score(services, conn, request, typical)
            code = pick_reply_code(context.used_codes) if result.tracked else None
            refund, assessment = new_rows(request, canonical, digest, result, code)
            await insert_rows(conn, refund, assessment, intake_audits(refund, assessment))
    except IntegrityError:
        return None  # another request stored this refund id first: the repeated path
    log_received(refund, assessment)
    return refund, assessment, context.merchant


async def score(
    services: Services,
    db: AsyncSession | AsyncConnection,
    request: RefundIn,
    typical: Decimal | None,
) -> RiskAssessmentResult:
    """The risk gate's verdict on one refund (``typical``: the merchant's median amount)."""
    return assess(
        RiskInput(
            amount=request.amount,
            currency=request.currency,
            signals=request.signals,
            merchant_typical_amount=typical,
            history=await history_for_intake(db, request.signals, services.risk_rules),
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


def intake_audits(refund: Refund, assessment: RiskAssessment) -> list[dict[str, Any]]:
    """The two audit rows every new refund gets: received, and the risk gate's verdict."""
    return [
        audit_values(
            kind=RECEIVED,
            actor="platform",
            refund_id=refund.refund_id,
            merchant_id=refund.merchant_id,
            detail={
                "order_id": refund.order_id,
                "amount": f"{refund.currency} {from_minor(refund.amount_minor, refund.currency)}",
            },
        ),
        audit_values(
            kind=ASSESSED,
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
        ),
    ]


def add_rows(session: AsyncSession, refund: Refund, assessment: RiskAssessment) -> None:
    """Add the rows and their two audit entries to the session (the caller commits)."""
    session.add(refund)
    session.add(assessment)
    for values in intake_audits(refund, assessment):
        session.add(AuditEvent(**values))


def log_received(refund: Refund, assessment: RiskAssessment) -> None:
    log.info(
        "refund_received",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        tracked=refund.tracked,
        score=assessment.score,
    )
