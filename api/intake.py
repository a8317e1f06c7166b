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
from datetime import datetime
from decimal import Decimal
from statistics import median
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.schemas import RefundIn, RefundIntakeOut, RiskOut, RiskReasonOut
from api.services import Services
from db.audit import append_audit
from db.models import Merchant, Refund, RiskAssessment, utcnow
from domain.money import from_minor
from domain.quiet_hours import QuietHours, quiet_windows
from risk import RiskInput, assess
from risk.abnormal import is_abnormal
from risk.history_store import history_for_intake
from workflows.inputs import QuietWindow, RefundWatchInput
from workflows.policy import EscalationPolicy
from workflows.refund_watch import workflow_id_for
from workflows.starter import start_watch

__all__ = [
    "IntakeConflict",
    "IntakeResult",
    "UnknownMerchant",
    "ensure_watch_started",
    "quiet_windows_for",
    "take_refund",
]

log = structlog.get_logger(__name__)
_HISTORY = 50
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


def _hash(canonical: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    fields: list[str] = []
    for key in sorted(set(old) | set(new)):
        if key == "signals" and isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            fields += [f"signals.{name}" for name in _differences(old[key], new[key])]
        elif old.get(key) != new.get(key):
            fields.append(key)
    return fields


async def _typical_amount(session: AsyncSession, merchant_id: str, currency: str) -> Decimal | None:
    statement = (
        select(Refund.amount_minor)
        .where(Refund.merchant_id == merchant_id, Refund.currency == currency)
        .order_by(col(Refund.created_at).desc())
        .limit(_HISTORY)
    )
    amounts = list((await session.exec(statement)).all())
    return from_minor(int(median(amounts)), currency) if amounts else None


async def _free_reply_code(session: AsyncSession, merchant_id: str) -> str:
    """The first letter not used by this merchant's open refunds: SMS replies say "1A", "2B"."""
    statement = select(Refund.reply_code).where(
        Refund.merchant_id == merchant_id, Refund.state == "open"
    )
    used = {code for code in (await session.exec(statement)).all() if code}
    for code in REPLY_CODES:
        if code not in used:
            return code
    return REPLY_CODES[-1]  # 26+ open refunds: later ones share Z and are answered in the app


async def _body(
    session: AsyncSession, refund: Refund, risk: RiskAssessment | None = None
) -> RefundIntakeOut:
    risk = risk or await _assessment(session, refund.refund_id)
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


def quiet_windows_for(
    merchant: Merchant, policy: EscalationPolicy, start: datetime, until: datetime
) -> list[QuietWindow]:
    """The merchant's quiet hours (its own, else the policy's) as UTC windows up to ``until``."""
    begin = merchant.quiet_start or policy.quiet_start
    end = merchant.quiet_end or policy.quiet_end
    hours = QuietHours(begin, end) if begin and end else None
    return [
        QuietWindow(w_start, w_end)
        for w_start, w_end in quiet_windows(hours, merchant.timezone, start, until)
    ]


def _watch_input(
    services: Services, refund: Refund, risk: RiskAssessment, merchant: Merchant
) -> RefundWatchInput:
    return RefundWatchInput(
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        amount_minor=refund.amount_minor,
        currency=refund.currency,
        deadline=refund.deadline_at,
        risk_score=risk.score,
        risk_level=risk.level,
        policy=services.policy,
        quiet_windows=quiet_windows_for(merchant, services.policy, utcnow(), refund.deadline_at),
        abnormal=is_abnormal(risk.reasons),
        evidence_window_s=_evidence_window_s(refund),
    )


def _evidence_window_s(refund: Refund) -> int | None:
    hours = refund.intake.get("evidence_window_hours")
    return int(hours) * 3600 if isinstance(hours, int) else None


async def _assessment(session: AsyncSession, refund_id: str) -> RiskAssessment:
    statement = (
        select(RiskAssessment)
        .where(RiskAssessment.refund_id == refund_id)
        .order_by(col(RiskAssessment.id))
    )
    risk = (await session.exec(statement)).first()
    assert risk is not None, f"refund {refund_id} has no assessment"
    return risk


async def ensure_watch_started(
    services: Services,
    session: AsyncSession,
    refund: Refund,
    *,
    risk: RiskAssessment | None = None,
    merchant: Merchant | None = None,
) -> None:
    """Start the refund's watch unless it runs already. ``risk`` and ``merchant`` save two
    reads when the caller has just written them (intake's hot path)."""
    if not refund.tracked or refund.workflow_started_at is not None:
        return
    risk = risk or await _assessment(session, refund.refund_id)
    merchant = merchant or await session.get(Merchant, refund.merchant_id)
    assert merchant is not None
    workflow_id = await start_watch(
        services.temporal,
        services.settings.temporal_task_queue,
        _watch_input(services, refund, risk, merchant),
    )
    refund.workflow_started_at = utcnow()
    session.add(refund)
    await append_audit(
        session,
        kind="workflow.started",
        actor="api",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        detail={"workflow_id": workflow_id, "policy": services.policy.version},
        dedup_key=f"{workflow_id}:started",
    )
    await session.commit()
    log.info("watch_started", refund_id=refund.refund_id, workflow_id=workflow_id)


async def take_refund(services: Services, request: RefundIn) -> IntakeResult:
    canonical = request.canonical()
    digest = _hash(canonical)
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
            raise IntakeConflict(_differences(existing.intake, canonical))
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
    result = assess(
        RiskInput(
            amount=request.amount,
            currency=request.currency,
            signals=request.signals,
            merchant_typical_amount=await _typical_amount(
                session, request.merchant_id, request.currency
            ),
            history=await history_for_intake(session, request.signals, services.risk_rules),
        ),
        services.risk_rules,
    )
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
        reply_code=await _free_reply_code(session, request.merchant_id) if result.tracked else None,
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
    session.add(refund)
    session.add(assessment)
    await append_audit(
        session,
        kind="refund.received",
        actor="platform",
        refund_id=request.refund_id,
        merchant_id=request.merchant_id,
        detail={"order_id": request.order_id, "amount": f"{request.currency} {request.amount}"},
    )
    await append_audit(
        session,
        kind="risk.assessed",
        actor="refundwatch",
        refund_id=request.refund_id,
        merchant_id=request.merchant_id,
        detail={
            "score": result.score,
            "level": result.level.value,
            "tracked": result.tracked,
            "reasons": [r["text"] for r in reasons],
            "rules_version": result.rules_version,
        },
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return None
    log.info(
        "refund_received",
        refund_id=request.refund_id,
        merchant_id=request.merchant_id,
        tracked=result.tracked,
        score=result.score,
    )
    return refund, assessment, merchant
