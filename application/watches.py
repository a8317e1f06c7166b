"""Starting a refund's watch: the workflow input built from its rows, started once.

Used by intake (the hot path, which passes the rows it just wrote) and by the scheduler's
reconciler (a watch that is missing). Both go through :func:`ensure_watch_started`, so the
workflow id, its input and the ``workflow.started`` audit entry are the same either way.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from application.services import Services
from db.audit import audit_values
from db.intake_rows import mark_started
from db.models import AuditEvent, Merchant, Refund, RiskAssessment, utcnow
from db.upsert import insert_ignore
from domain.policy import EscalationPolicy
from domain.quiet_hours import QuietHours, quiet_windows
from risk.abnormal import is_abnormal
from workflows.inputs import QuietWindow, RefundWatchInput
from workflows.starter import start_watch

__all__ = [
    "ensure_watch_started",
    "ensure_watches_started",
    "first_assessment",
    "quiet_windows_for",
    "start_new_watch",
]

log = structlog.get_logger(__name__)


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
        notice_events=services.settings.platform_notice_events,
    )


def _evidence_window_s(refund: Refund) -> int | None:
    hours = refund.intake.get("evidence_window_hours")
    return int(hours) * 3600 if isinstance(hours, int) else None


async def first_assessment(session: AsyncSession, refund_id: str) -> RiskAssessment:
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
    risk = risk or await first_assessment(session, refund.refund_id)
    merchant = merchant or await session.get(Merchant, refund.merchant_id)
    assert merchant is not None
    workflow_id = await start_watch(
        services.temporal,
        services.settings.temporal_task_queue,
        _watch_input(services, refund, risk, merchant),
    )
    await _mark_started(services, session, refund, workflow_id)
    await session.commit()


def _started_audit(services: Services, refund: Refund, workflow_id: str) -> dict[str, Any]:
    return audit_values(
        kind="workflow.started",
        actor="api",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        detail={"workflow_id": workflow_id, "policy": services.policy.version},
        dedup_key=f"{workflow_id}:started",
    )


async def _mark_started(
    services: Services, session: AsyncSession, refund: Refund, workflow_id: str
) -> None:
    refund.workflow_started_at = utcnow()
    session.add(refund)
    await insert_ignore(
        session, AuditEvent, _started_audit(services, refund, workflow_id), ["dedup_key"]
    )
    log.info("watch_started", refund_id=refund.refund_id, workflow_id=workflow_id)


async def start_new_watch(
    services: Services,
    conn: AsyncConnection,
    refund: Refund,
    risk: RiskAssessment,
    merchant: Merchant,
) -> None:
    """Intake's hot path: start the watch of a refund just stored, then mark it started on
    the same connection (``conn``, no transaction open; db.intake_rows.mark_started). A crash
    between the two leaves the mark unset: the platform's retry or the reconciler starts it
    (Temporal keeps one workflow per refund)."""
    workflow_id = await start_watch(
        services.temporal,
        services.settings.temporal_task_queue,
        _watch_input(services, refund, risk, merchant),
    )
    await mark_started(conn, refund.refund_id, _started_audit(services, refund, workflow_id))
    refund.workflow_started_at = utcnow()
    log.info("watch_started", refund_id=refund.refund_id, workflow_id=workflow_id)


async def ensure_watches_started(
    services: Services,
    session: AsyncSession,
    items: list[tuple[Refund, RiskAssessment, Merchant]],
    *,
    concurrency: int = 32,
) -> dict[str, Exception]:
    """Start many watches at once (a batch intake), record the started ones in one commit, and
    return the refunds whose start failed with why (stored: a repeated request starts them)."""
    gate = asyncio.Semaphore(concurrency)
    wanted = [item for item in items if item[0].tracked and item[0].workflow_started_at is None]

    async def start(refund: Refund, risk: RiskAssessment, merchant: Merchant) -> str:
        async with gate:
            return await start_watch(
                services.temporal,
                services.settings.temporal_task_queue,
                _watch_input(services, refund, risk, merchant),
            )

    outcomes = await asyncio.gather(*(start(*item) for item in wanted), return_exceptions=True)
    failed: dict[str, Exception] = {}
    for (refund, _, _), outcome in zip(wanted, outcomes, strict=True):
        if isinstance(outcome, Exception):
            failed[refund.refund_id] = outcome
        elif isinstance(outcome, str):
            await _mark_started(services, session, refund, outcome)
        else:
            raise outcome  # a BaseException (cancellation): not ours to swallow
    await session.commit()
    return failed
