"""What every refund activity needs: its rows, its audit entry for a send, a bound logger."""

from __future__ import annotations

from typing import Any

import structlog
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from db.audit import append_audit
from db.models import Merchant, NotificationAttempt, Refund

__all__ = ["audit_attempt", "load_refund", "logger_for"]

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


def logger_for(refund_id: str, merchant_id: str, workflow_id: str) -> Any:
    return log.bind(refund_id=refund_id, merchant_id=merchant_id, workflow_id=workflow_id)
