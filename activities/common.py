"""What every refund activity needs: its rows, its audit entry for a send, a bound logger."""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from activities.types import STAGE_CHANGED, StageChange
from db.audit import append_audit
from db.models import Merchant, NotificationAttempt, Refund
from domain.vocabulary import RefundState

__all__ = ["audit_attempt", "load_refund", "logger_for", "record_stage_change"]

log = structlog.get_logger("activities")


async def load_refund(session: AsyncSession, refund_id: str) -> tuple[Refund, Merchant]:
    refund = await session.get(Refund, refund_id)
    merchant = await session.get(Merchant, refund.merchant_id) if refund else None
    if refund is None or merchant is None:
        raise ApplicationError(f"refund {refund_id} or its merchant is missing", non_retryable=True)
    return refund, merchant


async def audit_attempt(session: AsyncSession, attempt: NotificationAttempt, kind: str) -> None:
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


async def record_stage_change(
    session: AsyncSession, refund: Refund, change: StageChange | None
) -> None:
    """The stage change a step's activity records with its own work (idempotent by its key)."""
    if change is None:
        return
    await append_audit(
        session,
        kind=STAGE_CHANGED,
        actor="workflow",
        refund_id=refund.refund_id,
        merchant_id=refund.merchant_id,
        detail={"stage": change.stage},
        dedup_key=change.dedup_key,
    )
    if refund.state == RefundState.OPEN:
        refund.stage = change.stage
        session.add(refund)


def logger_for(refund_id: str, merchant_id: str, workflow_id: str) -> Any:
    return log.bind(refund_id=refund_id, merchant_id=merchant_id, workflow_id=workflow_id)
